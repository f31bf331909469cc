/**
 * GPU, CUDA and cuDNN checks against what the `tensorflow` backend needs: `@tensorflow/tfjs-node-gpu` 4.22
 * loads libtensorflow 2.9.1, built for CUDA 11.2 and cuDNN 8.1. {@linkcode checkOnnxCuda} checks what
 * `cxr train --gpus` needs instead: onnxruntime-node 1.30's cuda execution provider, built for CUDA 12 and
 * cuDNN 9, and its provider library beside onnxruntime-node's binding (found without loading the addon).
 *
 * @module
 */
import { join } from "node:path";
import { onnxNativeDir } from "../onnx_native.ts";
import { compareVersions, type DoctorCheck, parseVersion } from "./check.ts";
import type { DoctorEnvironment } from "./environment.ts";

/** CUDA version libtensorflow 2.9.1 (tfjs-node-gpu 4.22) is built for; any 11.x from 11.2 loads it. */
export const REQUIRED_CUDA = [11, 2] as const;
/** cuDNN version libtensorflow 2.9.1 is built for; any 8.x from 8.1 loads it. */
export const REQUIRED_CUDNN = [8, 1] as const;

const AZURE_GPU_FIX =
  "Create an Azure NC/ND-series VM (e.g. Standard_NC6s_v3, one V100) with the Data Science " +
  "Virtual Machine image (microsoft-dsvm:ubuntu-2004:2004-gen2:latest), which brings the NVIDIA driver, CUDA " +
  "and Docker; on another image add the driver with `az vm extension set --publisher Microsoft.HPC.Compute " +
  "--name NvidiaGpuDriverLinux --resource-group G --vm-name VM`. Without a GPU the workflow still runs on " +
  "webgpu/wasm/cpu, only slower.";
const CUDA_FIX = "Install CUDA 11.2 beside other toolkits (NVIDIA's cuda-11-2 package, or the runfile with " +
  "--toolkit --silent) and put /usr/local/cuda-11.2/lib64 on LD_LIBRARY_PATH, or train inside the training " +
  "image (nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04), which carries CUDA 11.2 and cuDNN 8 itself.";

/** One GPU as `nvidia-smi` lists it. */
export interface GpuInfo {
  index: number;
  /** Model name (nvidia-smi truncates long names). */
  name: string;
  memoryMiB?: number;
}

/** What the plain `nvidia-smi` table says. */
export interface NvidiaSmiInfo {
  /** Driver version, e.g. `470.82.01`. */
  driver?: string | undefined;
  /** The newest CUDA version the driver supports, e.g. `11.4`. */
  cuda?: string | undefined;
  gpus: GpuInfo[];
}

/**
 * Reads the driver version, its CUDA version and the GPUs from the output of plain `nvidia-smi`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const info = parseNvidiaSmi(
 *   "| NVIDIA-SMI 470.82.01    Driver Version: 470.82.01    CUDA Version: 11.4     |\n" +
 *   "|   0  Tesla V100-PCIE...  Off  | 00000001:00:00.0 Off |                    0 |\n" +
 *   "| N/A   29C    P0    24W / 250W |      0MiB / 16160MiB |      0%      Default |\n");
 * assert.deepEqual(info, { driver: "470.82.01", cuda: "11.4", gpus: [{ index: 0, name: "Tesla V100-PCIE...", memoryMiB: 16160 }] });
 * ```
 */
export function parseNvidiaSmi(text: string): NvidiaSmiInfo {
  const gpus: GpuInfo[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const [, index, name] =
      /^\|\s+(\d+)\s+(.+?)\s+(?:On|Off)\s+\|\s+[0-9A-Fa-f]+:[0-9A-Fa-f:.]+/.exec(line) ?? [];
    if (!index || !name) return;
    const mem = /(\d+)MiB\s*\/\s*(\d+)MiB/.exec(lines[i + 1] ?? "");
    gpus.push({ index: Number(index), name, ...(mem ? { memoryMiB: Number(mem[2]) } : {}) });
  });
  return {
    driver: /Driver Version:\s*([\d.]+)/.exec(text)?.[1],
    cuda: /CUDA Version:\s*([\d.]+)/.exec(text)?.[1],
    gpus,
  };
}

/**
 * Reads `MAJOR.MINOR.PATCH` from a `cudnn_version.h` (cuDNN 8+) or `cudnn.h` (cuDNN 7) header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const h = "#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 1\n#define CUDNN_PATCHLEVEL 1\n";
 * assert.equal(parseCudnnHeader(h), "8.1.1");
 * assert.equal(parseCudnnHeader("#define CUDNN_VERSION_H"), undefined);
 * ```
 */
export function parseCudnnHeader(text: string): string | undefined {
  const get = (name: string) => new RegExp(`#define\\s+CUDNN_${name}\\s+(\\d+)`).exec(text)?.[1];
  const major = get("MAJOR");
  return major === undefined ? undefined : `${major}.${get("MINOR") ?? 0}.${get("PATCHLEVEL") ?? 0}`;
}

/** Runs `nvidia-smi` and checks for a GPU whose driver supports CUDA 11.2. */
export async function checkGpu(env: DoctorEnvironment): Promise<DoctorCheck> {
  const base = { id: "gpu", title: "GPU and NVIDIA driver" };
  const r = await env.run("nvidia-smi", []);
  if (r.code === 127) {
    return { ...base, status: "warn", detail: "no NVIDIA driver: nvidia-smi not found", fix: AZURE_GPU_FIX };
  }
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split("\n")[0] || `exit code ${r.code}`;
    return { ...base, status: "fail", detail: `nvidia-smi failed: ${why}`, fix: AZURE_GPU_FIX };
  }
  const info = parseNvidiaSmi(r.stdout);
  if (info.gpus.length === 0) {
    return { ...base, status: "warn", detail: "nvidia-smi lists no GPU", fix: AZURE_GPU_FIX };
  }
  const gpus = info.gpus.map((g) => `${g.name}${g.memoryMiB ? ` (${g.memoryMiB} MiB)` : ""}`).join(", ");
  const detail = `${gpus}; driver ${info.driver ?? "?"} supports CUDA ${info.cuda ?? "?"}`;
  const cuda = parseVersion(info.cuda ?? "");
  if (cuda && compareVersions(cuda, REQUIRED_CUDA) < 0) {
    const fix = "Update the NVIDIA driver to 460 or newer (Azure: the NvidiaGpuDriverLinux VM extension).";
    const old = `${detail}, older than the CUDA ${REQUIRED_CUDA.join(".")} tfjs-node-gpu 4.22 needs`;
    return { ...base, status: "fail", detail: old, fix };
  }
  return { ...base, status: "ok", detail };
}

/** Finds the CUDA toolkit's version (version.json, version.txt, nvcc, ldconfig) and compares it with 11.2. */
export async function checkCuda(env: DoctorEnvironment): Promise<DoctorCheck> {
  const base = { id: "cuda", title: "CUDA toolkit (needs 11.2 for tfjs-node-gpu 4.22)" };
  // A soname (libcudart.so.11.0) names the major version only: every 11.x toolkit ships libcudart.so.11.0.
  const found: { source: string; version: number[]; soname?: boolean }[] = [];
  const json = await env.readTextFile("/usr/local/cuda/version.json");
  if (json) {
    try {
      const v = parseVersion(String(JSON.parse(json)?.cuda?.version ?? ""));
      if (v) found.push({ source: "/usr/local/cuda/version.json", version: v });
    } catch { /* not JSON: other sources follow */ }
  }
  const txt = await env.readTextFile("/usr/local/cuda/version.txt");
  const txtVersion = txt ? parseVersion(txt) : undefined;
  if (txtVersion) found.push({ source: "/usr/local/cuda/version.txt", version: txtVersion });
  const nvcc = await env.run("nvcc", ["--version"]);
  const nvccVersion = nvcc.code === 0
    ? parseVersion(/release\s+([\d.]+)/.exec(nvcc.stdout)?.[1] ?? "")
    : undefined;
  if (nvccVersion) found.push({ source: "nvcc --version", version: nvccVersion });
  const ld = await env.run("ldconfig", ["-p"]);
  for (const [, so = ""] of ld.stdout.matchAll(/libcudart\.so\.(\d+(?:\.\d+)?)\s/g)) {
    found.push({ source: `ldconfig: libcudart.so.${so}`, version: so.split(".").map(Number), soname: true });
  }
  if (found.length === 0) {
    const detail = "no CUDA toolkit found (no nvcc, version file or libcudart)";
    return { ...base, status: "warn", detail, fix: CUDA_FIX };
  }
  const fits = (f: (typeof found)[number]) =>
    f.version[0] === REQUIRED_CUDA[0] && (f.soname || compareVersions(f.version, REQUIRED_CUDA) >= 0);
  const list = [...new Map(found.map((f) => [f.source, `${f.version.join(".")} (${f.source})`])).values()];
  if (found.some(fits)) return { ...base, status: "ok", detail: `CUDA ${list.join(", ")}` };
  const detail = `found CUDA ${list.join(", ")}, but tfjs-node-gpu 4.22 (libtensorflow 2.9.1) needs CUDA ` +
    `${REQUIRED_CUDA.join(".")} (libcudart.so.11.0): its GPU backend will not load with this toolkit`;
  return { ...base, status: "warn", detail, fix: CUDA_FIX };
}

const CUDNN_HEADERS = [
  "/usr/include/cudnn_version.h",
  "/usr/include/x86_64-linux-gnu/cudnn_version_v8.h",
  "/usr/local/cuda/include/cudnn_version.h",
  "/usr/include/cudnn.h",
  "/usr/local/cuda/include/cudnn.h",
];

/** Finds cuDNN (headers, then ldconfig) and compares it with 8.1. */
export async function checkCudnn(env: DoctorEnvironment): Promise<DoctorCheck> {
  const base = { id: "cudnn", title: "cuDNN (needs 8.1 for tfjs-node-gpu 4.22)" };
  const fix =
    "Install cuDNN 8.1+ for CUDA 11 (NVIDIA's libcudnn8 package, e.g. 8.1.1.33-1+cuda11.2), or train " +
    "inside the training image, which carries cuDNN 8.";
  let version: string | undefined;
  let source = "";
  for (const path of CUDNN_HEADERS) {
    const text = await env.readTextFile(path);
    version = text ? parseCudnnHeader(text) : undefined;
    if (version) {
      source = path;
      break;
    }
  }
  if (!version) {
    const m = /libcudnn\.so\.(\d+(?:\.\d+)*)\s/.exec((await env.run("ldconfig", ["-p"])).stdout);
    if (m) [version, source] = [m[1], `ldconfig: libcudnn.so.${m[1]}`];
  }
  if (!version) return { ...base, status: "warn", detail: "no cuDNN found (no header, no libcudnn)", fix };
  const soname = !version.includes("."); // libcudnn.so.8 names the major version only
  const v = parseVersion(version) ?? [Number(version)];
  if (v[0] === REQUIRED_CUDNN[0] && (soname || compareVersions(v, REQUIRED_CUDNN) >= 0)) {
    return { ...base, status: "ok", detail: `cuDNN ${version} (${source})` };
  }
  const needs = `libtensorflow 2.9.1 needs cuDNN ${REQUIRED_CUDNN.join(".")}+ of major 8`;
  return { ...base, status: "warn", detail: `cuDNN ${version} (${source}), but ${needs}`, fix };
}

/** Sonames of the CUDA 12 libraries onnxruntime-node 1.30's cuda provider loads (every 12.x ships them). */
export const ONNX_CUDA_LIBRARIES = [
  "libcudart.so.12",
  "libcublas.so.12",
  "libcublasLt.so.12",
  "libcurand.so.10",
  "libcufft.so.11",
] as const;
/** Soname of the cuDNN 9 library the cuda provider loads. */
export const ONNX_CUDNN_LIBRARY = "libcudnn.so.9";
/** The provider libraries onnxruntime-node's install script fetches from NuGet beside its binding. */
export const ONNX_PROVIDER_LIBRARIES = [
  "libonnxruntime_providers_cuda.so",
  "libonnxruntime_providers_shared.so",
] as const;

/** Options of {@linkcode checkOnnxCuda}. */
export interface OnnxCudaCheckOptions {
  /**
   * Folder where the provider libraries must lie.
   * @default onnxNativeDir(): onnxruntime-node's binding folder, found without loading the addon
   */
  providerDir?: string;
}

const ONNX_INSTALL = "ONNXRUNTIME_NODE_INSTALL=cuda12 deno install --allow-scripts=npm:onnxruntime-node";

/**
 * Checks what `cxr train --gpus` needs for onnxruntime-node 1.30's cuda execution provider: the CUDA 12
 * runtime libraries and cuDNN 9 (listed by `ldconfig -p` or in a folder of `LD_LIBRARY_PATH`), and the
 * provider libraries beside onnxruntime-node's binding. Anything missing is a `warn` naming each gap: training
 * still runs on the CPU.
 *
 * @param env The machine to ask.
 * @param options Where the provider libraries must lie.
 * @returns The `onnx-cuda` row: `ok` when everything is present, otherwise `warn` with what to install.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { systemEnvironment } from "./environment.ts";
 * const check = await checkOnnxCuda(systemEnvironment(), { providerDir: "/nonexistent" });
 * assert.equal(check.status, "warn");
 * assert.match(check.detail, /libonnxruntime_providers_cuda\.so/);
 * ```
 */
export async function checkOnnxCuda(
  env: DoctorEnvironment,
  options: OnnxCudaCheckOptions = {},
): Promise<DoctorCheck> {
  const base = { id: "onnx-cuda", title: "ONNX Runtime cuda provider (train --gpus: CUDA 12, cuDNN 9)" };
  const ld = await env.run("ldconfig", ["-p"]);
  const listed = new Set([...ld.stdout.matchAll(/^\s*(\S+\.so\.[\d.]+)\s/gm)].map((m) => m[1] ?? ""));
  const dirs = (env.env("LD_LIBRARY_PATH") ?? "").split(":").filter(Boolean);
  const loadable = async (lib: string) => {
    if (listed.has(lib)) return true;
    for (const dir of dirs) if (await env.exists(join(dir, lib))) return true;
    return false;
  };
  const missing = async (libs: readonly string[], found: (lib: string) => Promise<boolean>) => {
    const out: string[] = [];
    for (const lib of libs) if (!(await found(lib))) out.push(lib);
    return out;
  };
  const instead = (pattern: RegExp, wanted: string) => {
    const others = [...listed].filter((l) => pattern.test(l) && l !== wanted);
    return others.length ? ` (found ${others.join(", ")} instead)` : "";
  };
  const providerDir = options.providerDir ?? onnxNativeDir();
  const cuda = await missing(ONNX_CUDA_LIBRARIES, loadable);
  const cudnn = await missing([ONNX_CUDNN_LIBRARY], loadable);
  const provider = providerDir === undefined
    ? []
    : await missing(ONNX_PROVIDER_LIBRARIES, (lib) => env.exists(join(providerDir, lib)));
  const gaps: string[] = [];
  const fixes: string[] = [];
  if (cuda.length) {
    gaps.push(`CUDA 12 runtime: no ${cuda.join(", ")}${instead(/^libcudart\.so\./, "libcudart.so.12")}`);
    fixes.push(
      "Install the CUDA 12 runtime libraries (NVIDIA's cuda-libraries-12-4 package, any 12.x; they need " +
        "driver 525 or newer) and put their lib64 folder on LD_LIBRARY_PATH if ldconfig does not list it.",
    );
  }
  if (cudnn.length) {
    gaps.push(`cuDNN 9: no ${ONNX_CUDNN_LIBRARY}${instead(/^libcudnn\.so\./, ONNX_CUDNN_LIBRARY)}`);
    fixes.push("Install cuDNN 9 for CUDA 12 (NVIDIA's libcudnn9-cuda-12 package).");
  }
  if (providerDir === undefined) {
    gaps.push("provider: onnxruntime-node is not installed (cannot resolve it)");
    fixes.push(`Install onnxruntime-node with its cuda provider: \`${ONNX_INSTALL}\`.`);
  } else if (provider.length) {
    gaps.push(`provider: no ${provider.join(", ")} in ${providerDir}`);
    fixes.push(
      "Fetch the provider beside onnxruntime-node's binding (Deno skips the install script that does; " +
        `onnxruntime-node has it for linux x64 only): \`${ONNX_INSTALL}\`.`,
    );
  }
  if (gaps.length === 0) {
    const detail = `CUDA 12 runtime, cuDNN 9 and ${ONNX_PROVIDER_LIBRARIES[0]} in ${providerDir}`;
    return { ...base, status: "ok", detail };
  }
  if (ld.code !== 0) gaps.push(`ldconfig -p failed (${(ld.stderr || `exit code ${ld.code}`).trim()})`);
  fixes.push(
    "Or train inside the CUDA 12 training image (`deno task cxr image build training --onnx-cuda`, " +
      "based on nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04).",
  );
  const detail = `train --gpus cannot use the cuda provider here (CPU training still works): ${
    gaps.join("; ")
  }`;
  return { ...base, status: "warn", detail, fix: fixes.join(" ") };
}
