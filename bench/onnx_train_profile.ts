/**
 * Where one DenseNet-121 training step's time goes on the onnx engine, per ONNX Runtime operator: the training
 * graph of `exportTrainingOnnx` (lib/model/onnx_training.ts) runs in a session with ONNX Runtime's profiler on,
 * two warm-up runs (its allocations settle only after the second), then `--steps` measured runs; the table sums
 * each operator's kernel time over the measured runs, split into the forward pass and the backward pass (nodes
 * from `backwardFrom` on; operators ONNX Runtime fused or inserted, such as FusedMatMul or layout reorders, are
 * `fused`). `outside kernels` is the run's wall time no kernel accounts for.
 *
 * Run: `deno run -A bench/onnx_train_profile.ts [--size 224] [--micro-batch 8] [--threads 1] [--steps 2]
 * [--top 15]`. Prints a markdown table and, last, one JSON line with the run time and every row.
 *
 * @module
 */
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { createDenseNet, exportTrainingOnnx, selectBackend } from "../lib/model/mod.ts";
import { onnxSessionOptions } from "../lib/model/onnx_runtime.ts";

/** One row: an operator in a phase. */
export interface OpRow {
  op: string;
  phase: "forward" | "backward" | "fused";
  /** Calls per run. */
  calls: number;
  /** Milliseconds per run. */
  ms: number;
  /** Fraction of the run's wall time. */
  share: number;
}

interface ProfileEvent {
  cat?: string;
  name?: string;
  ts: number;
  dur: number;
  args?: { op_name?: string };
}

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "224" },
    "micro-batch": { type: "string", default: "8" },
    threads: { type: "string", default: "1" },
    steps: { type: "string", default: "2" },
    top: { type: "string", default: "15" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  console.log(
    "deno run -A bench/onnx_train_profile.ts [--size 224] [--micro-batch 8] [--threads 1] [--steps 2] [--top 15]",
  );
  Deno.exit(0);
}
const size = Number(values.size), n = Number(values["micro-batch"]), threads = Number(values.threads);
const steps = Number(values.steps), top = Number(values.top);
await selectBackend("cpu");
const model = createDenseNet({ inputSize: size });
const graph = await exportTrainingOnnx(model);
const dir = Deno.makeTempDirSync();
const session = await ort.InferenceSession.create(graph.bytes, {
  ...onnxSessionOptions("cpu", threads),
  enableProfiling: true,
  profileFilePrefix: join(dir, "profile"),
});
const classes = graph.classes;
const feeds: Record<string, ort.Tensor> = {
  image: new ort.Tensor("float32", new Float32Array(n * size * size).map(() => Math.random() * 255), [
    n,
    size,
    size,
    1,
  ]),
  labels: new ort.Tensor("float32", new Float32Array(n * classes).map(() => Math.random() < 0.2 ? 1 : 0), [
    n,
    classes,
  ]),
  positive: new ort.Tensor("float32", new Float32Array(classes).fill(1), [classes]),
  negative: new ort.Tensor("float32", new Float32Array(classes).fill(1), [classes]),
  scale: new ort.Tensor("float32", Float32Array.of(1 / (n * classes)), [1]),
};
const all = model.weights;
for (const w of graph.weights) {
  feeds[w.input] = new ort.Tensor("float32", Float32Array.from(await all[w.index]!.read().data()), w.shape);
}
for (let i = 0; i < 2 + steps; i++) await session.run(feeds);
session.endProfiling();
await session.release();
const file = readdirSync(dir).find((f) => f.startsWith("profile") && f.endsWith(".json"));
if (!file) throw new Error(`ONNX Runtime wrote no profile into ${dir}`);
const events: ProfileEvent[] = JSON.parse(readFileSync(join(dir, file), "utf8"));
rmSync(dir, { recursive: true });
const runs = events.filter((e) => e.name === "model_run").slice(-steps);
const runMs = runs.reduce((a, r) => a + r.dur, 0) / 1000 / steps;
const inRun = (e: ProfileEvent) => runs.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
const rows = new Map<string, OpRow>();
for (const e of events) {
  if (e.cat !== "Node" || !e.name?.endsWith("_kernel_time") || !inRun(e)) continue;
  const op = e.args?.op_name ?? "?";
  const index = /^[A-Za-z]+_(\d+)_kernel_time$/.exec(e.name)?.[1];
  const phase = index === undefined ? "fused" : Number(index) >= graph.backwardFrom ? "backward" : "forward";
  const key = `${op}/${phase}`;
  const row = rows.get(key) ?? { op, phase, calls: 0, ms: 0, share: 0 };
  row.calls += 1 / steps;
  row.ms += e.dur / 1000 / steps;
  rows.set(key, row);
}
const sorted = [...rows.values()].sort((a, b) => b.ms - a.ms);
for (const r of sorted) r.share = r.ms / runMs;
const kernels = sorted.reduce((a, r) => a + r.ms, 0);
console.log(
  `DenseNet-121 ${size} px, micro-batch ${n}, ONNX Runtime on ${threads} thread(s): ${
    runMs.toFixed(0)
  } ms per run`,
);
console.log("| operator | phase | calls | ms per run | share |\n| --- | --- | ---: | ---: | ---: |");
for (const r of sorted.slice(0, top)) {
  console.log(
    `| ${r.op} | ${r.phase} | ${Math.round(r.calls)} | ${r.ms.toFixed(1)} | ${
      (100 * r.share).toFixed(1)
    } % |`,
  );
}
console.log(
  `| outside kernels | | | ${(runMs - kernels).toFixed(1)} | ${
    (100 * (runMs - kernels) / runMs).toFixed(1)
  } % |`,
);
console.log(JSON.stringify({ size, microBatch: n, threads, runMs, rows: sorted }));
