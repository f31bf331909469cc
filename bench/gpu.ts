/**
 * One-shot GPU check for a borrowed GPU machine: the WebGPU adapter Deno sees, tfjs on the webgpu backend
 * (DenseNet-121 forward img/s at batch 1 and 16, one training step at batch 16) and ONNX Runtime with the
 * cpu, webgpu and cuda execution providers (forward img/s, or the reason a provider does not load).
 *
 * It never hangs: every stage runs in its own subprocess (this file with `--stage NAME`) that is killed after
 * `--timeout` seconds (30 s for the adapter), so a stuck driver call costs one stage, not the run. All output is text lines
 * (`stage: key value`), and the run exits 0 whatever failed. Needs only this checkout with its
 * node_modules and a Deno binary.
 *
 * Run: `deno run -A bench/gpu.ts [--size 224] [--timeout 120] [--stages adapter,tfjs-forward,...]`
 *
 * Carrying it to a machine with no network and a 64 MiB transfer limit (done on 2026-11-26, 44.5 MB):
 * `deno bundle --platform deno --external onnxruntime-node -o gpu/gpu.js bench/gpu.ts`, then beside it the
 * Deno binary, a `package.json` naming onnxruntime-node, and `node_modules/onnxruntime-node` +
 * `onnxruntime-common` copied with only `bin/napi-v6/linux/x64`; tar with xz, unpack outside the checkout (so
 * no deno.json is found) and run `./deno run -A gpu.js` there. Found on a lent H200 (driver 580): no WebGPU
 * adapter (no Vulkan loader in the image; with Debian's libvulkan1 carried, NVIDIA's ICD fails
 * vkCreateInstance), no CUDA provider library (npm's install script fetches it), ONNX Runtime CPU on 16 cores
 * 103.9 img/s at batch 1, 229.2 at batch 16.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
// Types only (erased): the stages import the lib dynamically so the parent process loads no tfjs.
import type { tf as Tf } from "../lib/model/mod.ts";

/** The stages, in the order they run. */
export const GPU_STAGES = [
  "adapter",
  "tfjs-forward",
  "tfjs-train",
  "onnx-cpu",
  "onnx-webgpu",
  "onnx-cuda",
] as const;
type Stage = typeof GPU_STAGES[number];

function line(stage: string, text: string): void {
  console.log(`${stage}: ${text}`);
}

async function adapterStage(): Promise<void> {
  // deno-lint-ignore no-explicit-any
  const gpu = (navigator as any).gpu;
  if (!gpu) return line("adapter", "navigator.gpu is not available in this Deno");
  for (const powerPreference of ["high-performance", "low-power"]) {
    const adapter = await gpu.requestAdapter({ powerPreference });
    if (!adapter) {
      line("adapter", `${powerPreference}: requestAdapter() returned null (no WebGPU adapter)`);
      continue;
    }
    const i = adapter.info ?? {};
    line(
      "adapter",
      `${powerPreference}: vendor=${i.vendor} architecture=${i.architecture} device=${i.device} ` +
        `description="${i.description}" fallback=${i.isFallbackAdapter ?? "?"}`,
    );
    line("adapter", `features: ${[...adapter.features].sort().join(" ") || "(none)"}`);
    const l = adapter.limits;
    line(
      "adapter",
      `limits: maxBufferSize=${l.maxBufferSize} maxStorageBufferBindingSize=${l.maxStorageBufferBindingSize} ` +
        `maxComputeWorkgroupStorageSize=${l.maxComputeWorkgroupStorageSize}`,
    );
  }
}

async function timed(run: () => Promise<void>, minSeconds: number): Promise<number> {
  await run(); // warm-up (shader compilation)
  const start = performance.now();
  let calls = 0;
  while (calls < 2 || performance.now() - start < minSeconds * 1000) {
    await run();
    calls++;
  }
  return (performance.now() - start) / calls;
}

async function tfjsStage(stage: Stage, size: number): Promise<void> {
  const { createDenseNet, selectBackend, tf } = await import("../lib/model/mod.ts");
  const chosen = await selectBackend("webgpu");
  line(stage, `backend webgpu (${chosen.reason})`);
  const model = createDenseNet({ inputSize: size });
  if (stage === "tfjs-forward") {
    for (const batch of [1, 16]) {
      const x = tf.randomUniform([batch, size, size, 1], 0, 255);
      const ms = await timed(async () => {
        const y = model.predict(x) as Tf.Tensor;
        await y.data();
        y.dispose();
      }, 3);
      x.dispose();
      line(
        stage,
        `DenseNet-121 ${size}px batch ${batch}: ${(1000 * batch / ms).toFixed(1)} img/s (${
          ms.toFixed(1)
        } ms/batch)`,
      );
    }
    return;
  }
  const batch = 16;
  const x = tf.randomUniform([batch, size, size, 1], 0, 255);
  const y = tf.cast(tf.greater(tf.randomUniform([batch, 14]), 0.7), "float32");
  const optimizer = tf.train.adam(1e-4);
  const step = async () => {
    const loss = optimizer.minimize(() => {
      const p = model.apply(x, { training: true }) as Tf.Tensor;
      return tf.losses.logLoss(y, p) as Tf.Scalar;
    }, true);
    await loss!.data();
    loss!.dispose();
  };
  const first = performance.now();
  await step();
  line(
    stage,
    `first training step (batch ${batch}, includes shader compilation): ${
      (performance.now() - first).toFixed(0)
    } ms`,
  );
  const ms = await timed(step, 3);
  line(
    stage,
    `training step batch ${batch} at ${size}px: ${ms.toFixed(1)} ms (${
      (1000 * batch / ms).toFixed(1)
    } img/s)`,
  );
}

async function onnxStage(stage: Stage, size: number): Promise<void> {
  const provider = stage.slice("onnx-".length) as "cpu" | "webgpu" | "cuda";
  const ort = await import("onnxruntime-node");
  line(
    stage,
    `onnxruntime-node ${ort.env.versions.node}; providers in this build: ${
      ort.listSupportedBackends().map((b) => `${b.name}${b.bundled ? "" : " (not bundled)"}`).join(", ")
    }`,
  );
  const { createDenseNet, exportOnnx, selectBackend } = await import("../lib/model/mod.ts");
  await selectBackend("cpu");
  const model = createDenseNet({ inputSize: size });
  const bytes = await exportOnnx(model, { cam: false });
  model.dispose();
  const file = join(await Deno.makeTempDir({ prefix: "cxr-gpu-" }), "model.onnx");
  await Deno.writeFile(file, bytes);
  let session;
  try {
    session = await ort.InferenceSession.create(file, {
      executionProviders: [provider],
      logSeverityLevel: 3,
    });
  } catch (e) {
    return line(stage, `provider ${provider} did not load: ${String(e).split("\n")[0]}`);
  }
  for (const batch of [1, 16]) {
    const data = new Float32Array(batch * size * size);
    for (let i = 0; i < data.length; i++) data[i] = i * 2654435761 >>> 24;
    const image = new ort.Tensor("float32", data, [batch, size, size, 1]);
    const ms = await timed(async () => {
      await session.run({ image });
    }, 3);
    line(
      stage,
      `DenseNet-121 ${size}px batch ${batch}: ${(1000 * batch / ms).toFixed(1)} img/s (${
        ms.toFixed(1)
      } ms/batch)`,
    );
  }
  await session.release();
}

async function runStage(stage: Stage, size: number, timeout: number): Promise<void> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--stage", stage, "--size", String(size)],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, timeout * 1000);
  const { code, signal, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const out = new TextDecoder().decode(stdout).trimEnd();
  if (out) console.log(out);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (signal === "SIGKILL") line(stage, `TIMEOUT: killed after ${timeout} s`);
  else if (code !== 0) {
    const err = new TextDecoder().decode(stderr).trim().split("\n").filter((l) => /error/i.test(l)).pop();
    line(stage, `FAILED (exit ${code}): ${err ?? "no error message"}`);
  }
  line(stage, `done in ${seconds} s`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      stage: { type: "string" },
      stages: { type: "string", default: GPU_STAGES.join(",") },
      size: { type: "string", default: "224" },
      timeout: { type: "string", default: "120" },
    },
  });
  const size = Number(values.size);
  if (values.stage) {
    const stage = values.stage as Stage;
    if (stage === "adapter") await adapterStage();
    else if (stage.startsWith("tfjs")) await tfjsStage(stage, size);
    else await onnxStage(stage, size);
    Deno.exit(0);
  }
  line(
    "gpu",
    `Deno ${Deno.version.deno} on ${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores`,
  );
  for (const stage of values.stages.split(",")) {
    if (!(GPU_STAGES as readonly string[]).includes(stage)) {
      line("gpu", `unknown stage "${stage}" skipped (stages: ${GPU_STAGES.join(", ")})`);
      continue;
    }
    // The adapter query is quick or hung; the model stages compile shaders and measure for a few seconds.
    await runStage(
      stage as Stage,
      size,
      stage === "adapter" ? Math.min(30, Number(values.timeout)) : Number(values.timeout),
    );
  }
  line("gpu", "finished");
  Deno.exit(0);
}
