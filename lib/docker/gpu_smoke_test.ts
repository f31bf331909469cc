import assert from "node:assert/strict";
import { checkOnnxSteps } from "./gpu_smoke.ts";

Deno.test("checkOnnxSteps on this machine (no GPU, no CUDA provider library can be fetched here): cuda says why and runs no step", async () => {
  const report = await checkOnnxSteps([0, 1]);
  assert.ok(report.providers.includes("cpu"));
  assert.match(report.problem ?? "", /libonnxruntime_providers_cuda\.so is not installed/);
  assert.deepEqual(report.steps, []);
});

Deno.test("checkOnnxSteps compares each device's step with the CPU's: CPU against itself matches exactly, per device", async () => {
  const report = await checkOnnxSteps([0, 3], "cpu");
  assert.equal(report.problem, null);
  assert.deepEqual(report.steps.map((s) => [s.device, s.ok, s.gradientDifference]), [[0, true, 0], [
    3,
    true,
    0,
  ]]);
  const loss = report.steps[0]?.loss ?? NaN;
  assert.ok(Number.isFinite(loss) && loss > 0, `loss ${loss}`);
  assert.equal(report.steps[1]?.loss, loss);
});

Deno.test("checkOnnxSteps with no device listed runs nothing; a device whose step fails is reported, the others still run", async () => {
  assert.deepEqual((await checkOnnxSteps([], "cpu")).steps, []);
  const report = await checkOnnxSteps([-1, 0], "cpu");
  assert.equal(report.steps[0]?.ok, false);
  assert.match(report.steps[0]?.error ?? "", /deviceId must be an integer >= 0, got -1/);
  assert.equal(report.steps[1]?.ok, true);
});
