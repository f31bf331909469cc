/**
 * Where one DenseNet-121 training step's time goes, per tfjs kernel: every kernel of the active backend is
 * wrapped in the kernel registry with a `performance.now()` timer (wasm and cpu kernels run synchronously, so
 * the wall time of a call is its cost), then one warm-up step and `--steps` measured steps run
 * `tf.variableGrads` of binary cross-entropy on a micro-batch, as `computeGradients` in lib/train/step.ts does.
 *
 * Calls are split into the forward phase (the loss function) and the backward phase (the gradients). A kernel
 * called from inside another kernel (the composed wasm `Conv2DBackpropFilter` calls BatchMatMul, StridedSlice,
 * ...) counts towards its caller in the table, and is listed separately as `caller/inner` under "inside
 * composed kernels". `unaccounted` is the step's wall time not spent in any top-level kernel (tape, tidy,
 * JavaScript glue).
 *
 * Run: `deno run -A bench/train_profile.ts [--size 224] [--micro-batch 2] [--backend wasm] [--steps 2]
 * [--top 15]`. Prints a markdown table (kernel, phase, calls, ms per step, share of the step) and, last, one
 * JSON line with the step time and every row.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { BackendName, createDenseNet, selectBackend, tf } from "../lib/model/mod.ts";
import { binaryCrossEntropy } from "../lib/train/loss.ts";

/** One row of the profile. */
export interface KernelRow {
  /** Kernel name; `caller/inner` for a kernel called inside another. */
  kernel: string;
  /** `forward` (inside the loss function) or `backward` (gradients). */
  phase: "forward" | "backward";
  /** Calls per step. */
  calls: number;
  /** Milliseconds per step. */
  ms: number;
  /** Fraction of the step's wall time. */
  share: number;
}

type Phase = KernelRow["phase"];

/** Wraps every kernel registered for `backend` with a timer; returns the recorder and an undo function. */
function instrument(backend: string) {
  const totals = new Map<string, { kernel: string; phase: Phase; calls: number; ms: number }>();
  const state = { phase: "forward" as Phase, stack: [] as string[], on: false };
  const configs = tf.getKernelsForBackend(backend);
  for (const config of configs) {
    const inner = config.kernelFunc;
    const kernelFunc: tf.KernelFunc = (args) => {
      if (!state.on) return inner(args);
      const name = state.stack.length ? `${state.stack[0]}/${config.kernelName}` : config.kernelName;
      state.stack.push(config.kernelName);
      const t0 = performance.now();
      try {
        return inner(args);
      } finally {
        const ms = performance.now() - t0;
        state.stack.pop();
        const key = `${name}\t${state.phase}`;
        const t = totals.get(key) ?? { kernel: name, phase: state.phase, calls: 0, ms: 0 };
        t.calls++;
        t.ms += ms;
        totals.set(key, t);
      }
    };
    tf.unregisterKernel(config.kernelName, backend);
    tf.registerKernel({ ...config, kernelFunc });
  }
  return { totals, state };
}

/** Runs the profile; returns the step time and one row per (kernel, phase), largest first. */
async function profile(
  backend: BackendName,
  size: number,
  micro: number,
  steps: number,
): Promise<{ stepMs: number; rows: KernelRow[]; unaccountedMs: number }> {
  await selectBackend(backend);
  const { totals, state } = instrument(backend);
  const model = createDenseNet({ inputSize: size });
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const x = tf.randomUniform([micro, size, size, 1], 0, 255, "float32", 1);
  const y = tf.cast(tf.greater(tf.randomUniform([micro, 14], 0, 1, "float32", 2), 0.7), "float32");
  const step = async () => {
    const { value, grads } = tf.variableGrads(() => {
      state.phase = "forward";
      const loss = tf.tidy(() => binaryCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor));
      state.phase = "backward";
      return loss;
    }, vars);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
  };
  await step(); // warm-up: kernel set-up, first allocations
  totals.clear();
  state.on = true;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const stepMs = (performance.now() - t0) / steps;
  state.on = false;
  tf.dispose([x, y]);
  model.dispose();
  const rows: KernelRow[] = [...totals.values()].map(({ kernel, phase, calls, ms }) => ({
    kernel,
    phase,
    calls: calls / steps,
    ms: ms / steps,
    share: ms / steps / stepMs,
  })).sort((a, b) => b.ms - a.ms);
  const top = rows.filter((r) => !r.kernel.includes("/")).reduce((s, r) => s + r.ms, 0);
  return { stepMs, rows, unaccountedMs: stepMs - top };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      size: { type: "string", default: "224" },
      "micro-batch": { type: "string", default: "2" },
      backend: { type: "string", default: "wasm" },
      steps: { type: "string", default: "2" },
      top: { type: "string", default: "15" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      `deno run -A bench/train_profile.ts [--size 224] [--micro-batch 2] [--backend wasm] [--steps 2]
  [--top 15]
Profiles one DenseNet-121 training step (forward + backward of binary cross-entropy) per tfjs kernel after one
warm-up step; prints a markdown table and one JSON line.`,
    );
    Deno.exit(0);
  }
  const size = Number(values.size), micro = Number(values["micro-batch"]), steps = Number(values.steps);
  const top = Number(values.top);
  for (const [name, v] of [["--size", size], ["--micro-batch", micro], ["--steps", steps], ["--top", top]]) {
    if (!Number.isInteger(v) || (v as number) < 1) {
      console.error(`train_profile: ${name} must be a positive integer, got ${v}`);
      Deno.exit(2);
    }
  }
  const { stepMs, rows, unaccountedMs } = await profile(values.backend as BackendName, size, micro, steps);
  const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  const line = (r: KernelRow) =>
    `| ${r.kernel} | ${r.phase} | ${r.calls} | ${r.ms.toFixed(1)} | ${pct(r.share)} |`;
  const outer = rows.filter((r) => !r.kernel.includes("/"));
  const nested = rows.filter((r) => r.kernel.includes("/"));
  const phaseMs = (p: Phase) => outer.filter((r) => r.phase === p).reduce((s, r) => s + r.ms, 0);
  console.log(
    `DenseNet-121 ${size} px, micro-batch ${micro}, ${values.backend}: ${stepMs.toFixed(0)} ms per step (${
      (micro / stepMs * 1000).toFixed(2)
    } img/s) over ${steps} steps; load average ${load}\n`,
  );
  console.log("| kernel | phase | calls | ms/step | share |\n| --- | --- | --- | --- | --- |");
  for (const r of outer.slice(0, top)) console.log(line(r));
  const rest = outer.slice(top);
  const restMs = rest.reduce((s, r) => s + r.ms, 0);
  console.log(`| ${rest.length} others | | | ${restMs.toFixed(1)} | ${pct(restMs / stepMs)} |`);
  console.log(
    `| forward, all kernels | forward | | ${phaseMs("forward").toFixed(1)} | ${
      pct(phaseMs("forward") / stepMs)
    } |`,
  );
  console.log(
    `| backward, all kernels | backward | | ${phaseMs("backward").toFixed(1)} | ${
      pct(phaseMs("backward") / stepMs)
    } |`,
  );
  console.log(`| unaccounted | | | ${unaccountedMs.toFixed(1)} | ${pct(unaccountedMs / stepMs)} |`);
  if (nested.length) {
    console.log("\nInside composed kernels (already counted in their caller):\n");
    console.log("| kernel | phase | calls | ms/step | share |\n| --- | --- | --- | --- | --- |");
    for (const r of nested.slice(0, top)) console.log(line(r));
  }
  console.log(
    JSON.stringify({
      size,
      microBatch: micro,
      backend: values.backend,
      steps,
      stepMs,
      imagesPerSecond: micro / stepMs * 1000,
      forwardMs: phaseMs("forward"),
      backwardMs: phaseMs("backward"),
      unaccountedMs,
      loadavg: load,
      rows,
    }),
  );
}
