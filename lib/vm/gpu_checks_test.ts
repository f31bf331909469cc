import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  checkCuda,
  checkCudnn,
  checkGpu,
  checkOnnxCuda,
  ONNX_CUDA_LIBRARIES,
  ONNX_PROVIDER_LIBRARIES,
  parseNvidiaSmi,
} from "./gpu_checks.ts";
import { onnxNativeDir } from "../onnx_native.ts";
import { systemEnvironment } from "./environment.ts";
import { fakeEnvironment, testdata } from "./_testing.ts";

const NC6S_V3 = testdata("nvidia_smi_nc6s_v3.txt");

/** A machine whose only answer is `ldconfig -p` listing `library` from `dir`. */
function withLibrary(library: string, dir: string) {
  return fakeEnvironment({
    programs: { "ldconfig -p": { stdout: `\t${library} (libc6,x86-64) => ${dir}/${library}\n` } },
  });
}

Deno.test("nvidia-smi of an NC6s_v3 (driver 470, CUDA 11.4) reads as one V100 with 16 GB", async () => {
  assert.deepEqual(parseNvidiaSmi(NC6S_V3), {
    driver: "470.82.01",
    cuda: "11.4",
    gpus: [{ index: 0, name: "Tesla V100-PCIE...", memoryMiB: 16160 }],
  });
  const check = await checkGpu(fakeEnvironment({ programs: { "nvidia-smi": { stdout: NC6S_V3 } } }));
  assert.equal(check.status, "ok");
  assert.equal(check.detail, "Tesla V100-PCIE... (16160 MiB); driver 470.82.01 supports CUDA 11.4");
});

Deno.test("a driver whose CUDA is older than 11.2 fails and says to update it", async () => {
  const old = NC6S_V3.replace(
    "Driver Version: 470.82.01    CUDA Version: 11.4",
    "Driver Version: 418.87.01    CUDA Version: 10.1",
  );
  const check = await checkGpu(fakeEnvironment({ programs: { "nvidia-smi": { stdout: old } } }));
  assert.equal(check.status, "fail");
  assert.match(check.detail, /CUDA 10\.1, older than the CUDA 11\.2/);
  assert.match(check.fix!, /460 or newer/);
});

Deno.test("no nvidia-smi is a warning that names the Azure VM to create; a broken driver fails", async () => {
  const none = await checkGpu(fakeEnvironment({}));
  assert.equal(none.status, "warn");
  assert.match(none.fix!, /Standard_NC6s_v3.*Data Science/);
  const broken = await checkGpu(fakeEnvironment({
    programs: { "nvidia-smi": { code: 9, stdout: testdata("nvidia_smi_failed.txt") } },
  }));
  assert.equal(broken.status, "fail");
  assert.match(broken.detail, /couldn't communicate with the NVIDIA driver/);
});

Deno.test("CUDA 11.2 from version.json passes; an nvcc 13.0 alone is reported as the wrong toolkit", async () => {
  const ok = await checkCuda(fakeEnvironment({
    files: { "/usr/local/cuda/version.json": '{"cuda": {"name": "CUDA SDK", "version": "11.2.2"}}' },
  }));
  assert.equal(ok.status, "ok");
  assert.match(ok.detail, /11\.2\.2 \(\/usr\/local\/cuda\/version\.json\)/);
  const nvcc13 = "nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 13.0, V13.0.88\n";
  const wrong = await checkCuda(fakeEnvironment({ programs: { "nvcc --version": { stdout: nvcc13 } } }));
  assert.equal(wrong.status, "warn");
  assert.match(
    wrong.detail,
    /found CUDA 13\.0 \(nvcc --version\), but tfjs-node-gpu 4\.22 .* needs CUDA 11\.2/,
  );
  assert.match(wrong.fix!, /cuda-11-2|nvidia\/cuda:11\.2\.2/);
  const soname = await checkCuda(withLibrary("libcudart.so.11.0", "/usr/local/cuda-11.4/lib64"));
  assert.equal(soname.status, "ok", "every CUDA 11 release ships libcudart.so.11.0");
  assert.equal((await checkCuda(fakeEnvironment({}))).status, "warn");
});

Deno.test("cuDNN 8.1 from its header passes; cuDNN 9 and none are warnings", async () => {
  const header = testdata("cudnn_version_8_1.h");
  const withHeader = (path: string, text: string) => checkCudnn(fakeEnvironment({ files: { [path]: text } }));
  const ok = await withHeader("/usr/include/cudnn_version.h", header);
  assert.deepEqual([ok.status, ok.detail], ["ok", "cuDNN 8.1.1 (/usr/include/cudnn_version.h)"]);
  const nine = await withHeader(
    "/usr/local/cuda/include/cudnn_version.h",
    header.replace("MAJOR 8", "MAJOR 9"),
  );
  assert.equal(nine.status, "warn");
  assert.match(nine.detail, /cuDNN 9\.1\.1 .* needs cuDNN 8\.1\+ of major 8/);
  const old = await withHeader("/usr/include/cudnn_version.h", header.replace("MINOR 1", "MINOR 0"));
  assert.equal(old.status, "warn");
  const lib = await checkCudnn(withLibrary("libcudnn.so.8", "/usr/lib/x86_64-linux-gnu"));
  assert.equal(lib.status, "ok");
  assert.equal((await checkCudnn(fakeEnvironment({}))).status, "warn");
});

const CUDA12 = "/usr/local/cuda-12.4/lib64";
const CUDNN = "/usr/lib/x86_64-linux-gnu";
const ORT = "/opt/onnxruntime-node/bin/napi-v6/linux/x64";

/** A machine whose `ldconfig -p` lists `libraries` (name => folder) and whose `files` exist. */
function onnxMachine(libraries: Record<string, string>, files: string[], vars: Record<string, string> = {}) {
  const stdout = Object.entries(libraries)
    .map(([lib, dir]) => `\t${lib} (libc6,x86-64) => ${dir}/${lib}\n`).join("");
  return fakeEnvironment({
    programs: {
      "ldconfig -p": { stdout: `${Object.keys(libraries).length} libs found in cache\n${stdout}` },
    },
    files: Object.fromEntries(files.map((f) => [f, ""])),
    vars,
  });
}

const CUDA12_LIBS = Object.fromEntries(ONNX_CUDA_LIBRARIES.map((l) => [l, CUDA12]));
const PROVIDER_FILES = ONNX_PROVIDER_LIBRARIES.map((l) => `${ORT}/${l}`);

Deno.test("onnx-cuda: CUDA 12, cuDNN 9 and the provider beside the binding are ok", async () => {
  const env = onnxMachine({ ...CUDA12_LIBS, "libcudnn.so.9": CUDNN }, PROVIDER_FILES);
  const check = await checkOnnxCuda(env, { providerDir: ORT });
  assert.deepEqual(
    [check.id, check.status, check.detail],
    ["onnx-cuda", "ok", `CUDA 12 runtime, cuDNN 9 and libonnxruntime_providers_cuda.so in ${ORT}`],
  );
  assert.equal(check.fix, undefined);
  assert.deepEqual(env.calls, ["ldconfig -p"]);
});

Deno.test("onnx-cuda: CUDA 12 libraries on LD_LIBRARY_PATH count, though ldconfig lists none", async () => {
  const onPath = ONNX_CUDA_LIBRARIES.map((l) => `${CUDA12}/${l}`);
  const env = onnxMachine({ "libcudnn.so.9": CUDNN }, [...onPath, ...PROVIDER_FILES], {
    LD_LIBRARY_PATH: `/nowhere:${CUDA12}`,
  });
  assert.equal((await checkOnnxCuda(env, { providerDir: ORT })).status, "ok");
});

Deno.test("onnx-cuda: only CUDA 11 is a warning naming libcudart.so.12 and what was found", async () => {
  const cuda11 = {
    "libcudart.so.11.0": "/usr/local/cuda-11.2/lib64",
    "libcublas.so.11": "/usr/local/cuda-11.2/lib64",
    "libcurand.so.10": "/usr/local/cuda-11.2/lib64",
  };
  const check = await checkOnnxCuda(onnxMachine({ ...cuda11, "libcudnn.so.9": CUDNN }, PROVIDER_FILES), {
    providerDir: ORT,
  });
  assert.equal(check.status, "warn");
  assert.match(
    check.detail,
    new RegExp(
      "CUDA 12 runtime: no libcudart\\.so\\.12, libcublas\\.so\\.12, libcublasLt\\.so\\.12, " +
        "libcufft\\.so\\.11 \\(found libcudart\\.so\\.11\\.0 instead\\)",
    ),
  );
  assert.doesNotMatch(check.detail, /cuDNN 9:|provider:/);
  assert.match(check.fix!, /CUDA 12 runtime libraries/);
  assert.match(check.fix!, /--onnx-cuda/);
  assert.doesNotMatch(check.fix!, /cuDNN|ONNXRUNTIME_NODE_INSTALL/);
});

Deno.test("onnx-cuda: only cuDNN 8 is a warning naming cuDNN 9", async () => {
  const check = await checkOnnxCuda(onnxMachine({ ...CUDA12_LIBS, "libcudnn.so.8": CUDNN }, PROVIDER_FILES), {
    providerDir: ORT,
  });
  assert.equal(check.status, "warn");
  assert.match(check.detail, /: cuDNN 9: no libcudnn\.so\.9 \(found libcudnn\.so\.8 instead\)$/);
  assert.match(check.fix!, /^Install cuDNN 9 for CUDA 12 \(NVIDIA's libcudnn9-cuda-12 package\)\. Or train/);
});

Deno.test("onnx-cuda: a missing provider library is a warning with the install command", async () => {
  const libs = { ...CUDA12_LIBS, "libcudnn.so.9": CUDNN };
  const noShared = await checkOnnxCuda(onnxMachine(libs, [PROVIDER_FILES[0]!]), { providerDir: ORT });
  assert.equal(noShared.status, "warn");
  assert.match(noShared.detail, new RegExp(`: provider: no libonnxruntime_providers_shared\\.so in ${ORT}$`));
  const none = await checkOnnxCuda(onnxMachine(libs, []), { providerDir: ORT });
  assert.match(none.detail, /no libonnxruntime_providers_cuda\.so, libonnxruntime_providers_shared\.so in /);
  assert.match(
    none.fix!,
    /`ONNXRUNTIME_NODE_INSTALL=cuda12 deno install --allow-scripts=npm:onnxruntime-node`/,
  );
  assert.match(none.fix!, /deno task cxr image build training --onnx-cuda/);
});

Deno.test("onnx-cuda without ldconfig says so beside the libraries it could not find", async () => {
  const check = await checkOnnxCuda(fakeEnvironment({}), { providerDir: ORT });
  assert.equal(check.status, "warn");
  assert.match(
    check.detail,
    /no libcudart\.so\.12, .*no libcudnn\.so\.9; .*; ldconfig -p failed \(ldconfig: not found\)$/,
  );
});

Deno.test("onnx-cuda on this machine (no GPU, no provider) is a warning naming what is missing", async () => {
  const dir = onnxNativeDir();
  assert.ok(dir, "onnxruntime-node resolves from lib/vm");
  assert.match(dir, /onnxruntime-node\/bin\/napi-v6\/\w+\/\w+$/);
  const check = await checkOnnxCuda(systemEnvironment());
  assert.equal(check.id, "onnx-cuda");
  // Where someone has fetched the provider, the row names only what else is missing (or is ok).
  const provider =
    `provider: no libonnxruntime_providers_cuda.so, libonnxruntime_providers_shared.so in ${dir}`;
  if (existsSync(join(dir, "libonnxruntime_providers_cuda.so"))) {
    assert.ok(!check.detail.includes(provider), check.detail);
    return;
  }
  assert.equal(check.status, "warn");
  assert.match(
    check.detail,
    /^train --gpus cannot use the cuda provider here \(CPU training still works\): /,
  );
  assert.ok(check.detail.includes(provider), check.detail);
  assert.match(check.fix!, /ONNXRUNTIME_NODE_INSTALL=cuda12/);
});
