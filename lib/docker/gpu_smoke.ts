/**
 * The training image's `gpu-smoke` check: which tfjs backend loads, which GPUs the machine shows, and whether
 * ONNX Runtime's cuda provider (`train --gpus`) trains on each of them as it does on the CPU.
 *
 * @module
 */
import { createDenseNet, selectBackend, tf } from "../model/mod.ts";
import type { BackendAttempt, BackendName } from "../model/mod.ts";

/** What {@linkcode gpuSmoke} found. */
export interface GpuSmokeReport {
  /** The tfjs backend now active (`tensorflow` means tfjs-node-gpu loaded its native library). */
  backend: BackendName;
  /** Why that one, and why the better ones were skipped. */
  reason: string;
  tried: BackendAttempt[];
  /** `nvidia-smi -L` lines (one per GPU), empty when there is no NVIDIA driver. */
  devices: string[];
  /** ONNX Runtime: its providers, and one training step per GPU on the cuda provider. */
  onnx: OnnxSmokeReport;
}

/** ONNX Runtime's part of {@linkcode GpuSmokeReport}. */
export interface OnnxSmokeReport {
  /** The execution providers this onnxruntime-node build has, e.g. `["cpu", "webgpu", "cuda"]`. */
  providers: string[];
  /** Why the provider cannot run here (e.g. its library is not installed), or `null` when it could be tried. */
  problem: string | null;
  /** One step per device checked (none when `problem` is set or no GPU is listed). */
  steps: OnnxStepCheck[];
}

/** One training step of a small DenseNet on one device, against the same step on ONNX Runtime's CPU provider. */
export interface OnnxStepCheck {
  device: number;
  /** The loss there, when the step ran. */
  loss?: number;
  /** The largest gradient difference from the CPU's, relative to the largest CPU gradient. */
  gradientDifference?: number;
  /** Whether the step matched the CPU's (loss within 1e-4, gradients within 1e-3). */
  ok: boolean;
  /** Why it failed, when it did. */
  error?: string;
}

/** Options for {@linkcode gpuSmoke}. */
export interface GpuSmokeOptions {
  /** Backend to ask for. @default "auto" */
  backend?: BackendName | "auto";
  /** Lists the GPUs. @default runs `nvidia-smi -L` */
  listDevices?: () => Promise<string[]>;
}

async function nvidiaSmi(): Promise<string[]> {
  try {
    const out = await new Deno.Command("nvidia-smi", { args: ["-L"], stdout: "piped", stderr: "null" })
      .output();
    if (!out.success) return [];
    return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim()).filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Loads the best tfjs backend, lists the GPUs and checks ONNX Runtime's cuda provider on each
 * ({@linkcode checkOnnxSteps}); `docker/entrypoints/gpu_smoke.ts` prints the report.
 *
 * @throws {BackendUnavailableError} when an explicit backend cannot load.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const report = await gpuSmoke({ backend: "cpu", listDevices: async () => ["GPU 0: test"] });
 * assert.equal(report.backend, "cpu");
 * assert.deepEqual(report.devices, ["GPU 0: test"]);
 * assert.ok(report.onnx.providers.includes("cpu"));
 * ```
 */
export async function gpuSmoke(options: GpuSmokeOptions = {}): Promise<GpuSmokeReport> {
  const selection = await selectBackend(options.backend ?? "auto");
  const devices = await (options.listDevices ?? nvidiaSmi)();
  const gpus = devices.flatMap((line) => /^GPU (\d+):/.exec(line)?.[1] ?? []).map(Number);
  const onnx = await checkOnnxSteps(gpus);
  return { backend: selection.name, reason: selection.reason, tried: selection.tried, devices, onnx };
}

/**
 * Runs one training step of a small DenseNet (2 images at 32 px) on ONNX Runtime's `provider` on each of
 * `devices`, the engine `train --gpus` uses, and compares it with the same step on the CPU provider. With
 * `provider` `cpu` it compares the CPU with itself (what this check does where no GPU can be lent).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const cpu = await checkOnnxSteps([0], "cpu");
 * assert.equal(cpu.problem, null);
 * assert.equal(cpu.steps[0]?.ok, true);
 * assert.equal(cpu.steps[0]?.gradientDifference, 0);
 * ```
 */
export async function checkOnnxSteps(
  devices: number[],
  provider: "cuda" | "cpu" = "cuda",
): Promise<OnnxSmokeReport> {
  const ort = await import("onnxruntime-node");
  const { onnxProviderProblem } = await import("../model/onnx_runtime.ts");
  const { startOnnxGradients } = await import("../train/onnx_gradients.ts");
  const providers = ort.listSupportedBackends().map((b) => b.name);
  const problem = onnxProviderProblem(provider);
  if (problem || devices.length === 0) return { providers, problem, steps: [] };
  const model = createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: 32 });
  const x = tf.randomUniform([2, 32, 32, 1], 0, 255, "float32", 1);
  const y = tf.tensor2d(Array.from({ length: 28 }, (_, i) => i % 3 === 0 ? 1 : 0), [2, 14]);
  const step = async (on: "cuda" | "cpu", deviceId: number) => {
    using engine = await startOnnxGradients(model, { threads: 1, provider: on, deviceId });
    const result = await engine.computeGradients(x, y, { microBatch: 2 });
    const grads = Object.fromEntries(
      Object.entries(result.grads).map(([name, t]) => [name, t.dataSync() as Float32Array]),
    );
    tf.dispose(Object.values(result.grads));
    return { loss: result.loss, grads };
  };
  try {
    const reference = await step("cpu", 0);
    const scale = Math.max(
      ...Object.values(reference.grads).map((g) => g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)),
    );
    const steps: OnnxStepCheck[] = [];
    for (const device of devices) {
      try {
        const got = await step(provider, device);
        let worst = 0;
        for (const [name, want] of Object.entries(reference.grads)) {
          const have = got.grads[name];
          if (!have || have.length !== want.length) {
            throw new Error(`gradient "${name}" missing or of another size`);
          }
          for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(have[i]! - want[i]!));
        }
        const gradientDifference = scale > 0 ? worst / scale : worst;
        const ok = Math.abs(got.loss - reference.loss) <= 1e-4 && gradientDifference <= 1e-3;
        steps.push({ device, loss: got.loss, gradientDifference, ok });
      } catch (e) {
        steps.push({ device, ok: false, error: e instanceof Error ? e.message : String(e) });
      }
    }
    return { providers, problem, steps };
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}
