import assert from "node:assert/strict";
import { type DoctorEvent, runDoctor } from "./doctor.ts";
import { CHECK_STATUSES } from "./check.ts";
import { ONNX_PROVIDER_LIBRARIES } from "./gpu_checks.ts";
import { onnxNativeDir } from "../onnx_native.ts";
import { fakeEnvironment, testdata } from "./_testing.ts";
import { loadSettings } from "../config.ts";

const IDS = [
  "gpu",
  "cuda",
  "cudnn",
  "onnx-cuda",
  "backends",
  "disk",
  "docker",
  "jupyter",
  "port-jupyter",
  "port-training-jupyter",
  "deno",
  "az",
  "storage",
];

/** `ldconfig -p` of that VM: CUDA 11.2 and cuDNN 8 (tfjs-node-gpu), CUDA 12 and cuDNN 9 (ONNX Runtime). */
const LDCONFIG = [
  ["libcudart.so.11.0", "/usr/local/cuda-11.2/lib64"],
  ["libcudart.so.12", "/usr/local/cuda-12.4/lib64"],
  ["libcublas.so.12", "/usr/local/cuda-12.4/lib64"],
  ["libcublasLt.so.12", "/usr/local/cuda-12.4/lib64"],
  ["libcurand.so.10", "/usr/local/cuda-12.4/lib64"],
  ["libcufft.so.11", "/usr/local/cuda-12.4/lib64"],
  ["libcudnn.so.8", "/usr/lib/x86_64-linux-gnu"],
  ["libcudnn.so.9", "/usr/lib/x86_64-linux-gnu"],
].map(([lib, dir]) => `\t${lib} (libc6,x86-64) => ${dir}/${lib}\n`).join("");

/** Where the doctor looks for ONNX Runtime's cuda provider (onnxruntime-node's binding folder). */
const PROVIDER_DIR = onnxNativeDir()!;

/** An Azure NC6s_v3 Data Science VM as the doctor should find it, everything in place. */
function gpuVm() {
  return fakeEnvironment({
    programs: {
      "nvidia-smi": { stdout: testdata("nvidia_smi_nc6s_v3.txt") },
      "ldconfig -p": { stdout: LDCONFIG },
      "nvcc --version": { stdout: "Cuda compilation tools, release 11.2, V11.2.152\n" },
      "docker --version": { stdout: "Docker version 24.0.7\n" },
      "/usr/bin/jupyter kernelspec list --json": {
        stdout: '{"kernelspecs": {"deno": {"spec": {"argv": ["/usr/bin/deno", "jupyter"]}}}}',
      },
      "az version --output json": { stdout: '{"azure-cli": "2.67.0"}' },
      "az account show --output json": { stdout: '{"id": "s", "name": "Research", "user": {"name": "ana"}}' },
    },
    files: {
      "/usr/include/cudnn_version.h": testdata("cudnn_version_8_1.h"),
      ...Object.fromEntries(ONNX_PROVIDER_LIBRARIES.map((lib) => [`${PROVIDER_DIR}/${lib}`, ""])),
    },
    dirs: ["/usr/bin/deno", "/data"],
    disk: { free: 480e9, total: 512e9 },
    http: { "unix:/var/run/docker.sock": { status: 200, headers: { "api-version": "1.43" }, body: "OK" } },
  });
}

const SETTINGS = loadSettings({ env: { CXR_DATA_DIR: "/data/nih" }, envFile: false });

Deno.test("on a complete GPU VM every check is ok and the report keeps a fixed order", async () => {
  const events: DoctorEvent[] = [];
  const report = await runDoctor(SETTINGS, {
    env: gpuVm(),
    backends: () =>
      Promise.resolve({
        best: "tensorflow",
        tried: [{ name: "tensorflow", usable: "yes", reason: "tfjs-node-gpu (libtensorflow)" }],
        toText: () => "* tensorflow  yes  tfjs-node-gpu (libtensorflow)",
        toHtml: () => "<table></table>",
      }),
    onProgress: (e) => events.push(e),
  });
  assert.deepEqual(report.checks.map((c) => c.id), IDS);
  assert.deepEqual(report.checks.filter((c) => c.status !== "ok"), []);
  assert.deepEqual(report.counts, { ok: 13, warn: 0, fail: 0 });
  assert.deepEqual(events.map((e) => e.done), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  assert.match(
    report.toTable(),
    /13 ok, 0 warn, 0 fail\n\nCompute backends \(tfjs\):\n {2}\* tensorflow {2}yes/,
  );
});

Deno.test("a hanging nvidia-smi is abandoned after the timeout while the other checks finish", async () => {
  const env = gpuVm();
  const hanging = {
    ...env,
    run: (cmd: string, args: string[]) =>
      cmd === "nvidia-smi" ? new Promise<never>(() => {}) : env.run(cmd, args),
  };
  const report = await runDoctor(SETTINGS, { env: hanging, timeoutMs: 50 });
  const gpu = report.checks.find((c) => c.id === "gpu")!;
  assert.equal(gpu.status, "warn");
  assert.equal(gpu.detail, "no answer within 0.05 s; the check was abandoned");
  assert.equal(report.checks.find((c) => c.id === "cuda")!.status, "ok");
});

Deno.test("a check that throws becomes a fail row instead of failing the doctor", async () => {
  const env = { ...gpuVm(), readTextFile: () => Promise.reject(new Error("EIO reading header")) };
  const report = await runDoctor(SETTINGS, { env });
  const cudnn = report.checks.find((c) => c.id === "cudnn")!;
  assert.deepEqual([cudnn.status, cudnn.detail], ["fail", "the check itself failed: EIO reading header"]);
  await assert.rejects(runDoctor(SETTINGS, { timeoutMs: 0 }), RangeError);
});

Deno.test("the real doctor on this machine finishes with one well-formed row per check", async () => {
  const report = await runDoctor(loadSettings({ env: {}, envFile: false }));
  assert.deepEqual(report.checks.map((c) => c.id), IDS);
  for (const c of report.checks) {
    assert.ok(CHECK_STATUSES.includes(c.status), c.id);
    assert.ok(c.title.length > 0 && c.detail.length > 0, c.id);
    if (c.status === "fail") assert.ok(c.fix, `${c.id} fails without saying what to do`);
  }
  const json = JSON.parse(JSON.stringify(report));
  assert.equal(json.checks.length, 13);
  assert.equal(json.ok, report.counts.fail === 0);
  assert.match(report.toHtml(), /^<table>.*<\/table>$/s);
});
