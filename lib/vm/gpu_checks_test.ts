import assert from "node:assert/strict";
import { checkCuda, checkCudnn, checkGpu, parseNvidiaSmi } from "./gpu_checks.ts";
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
