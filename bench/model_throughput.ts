/**
 * DenseNet-121 throughput: forward and training-step images per second on the tfjs backends present
 * (wasm, cpu, ...), on ONNX Runtime (onnxruntime-node, CPU provider) and PyTorch on CPU (Debian's
 * python3-torch) for the same step, side by side.
 *
 * The ONNX Runtime rows (`onnx-1t`, `onnx-2t`: intra-op threads from `--onnx-threads`) run the forward pass
 * as `exportOnnx`'s graph in an inference session (fetching `probabilities` only) and the training step as
 * `trainStep` with `startOnnxGradients`' engine, one micro-batch of the row's batch, the weights and the SGD
 * update on the tfjs wasm backend: what `train --engine onnx` runs. Their note compares them with torch at
 * the same threads, size and batch (onnx/torch).
 *
 * Every (runtime, size) runs in its own subprocess so a fresh wasm heap is measured and an out-of-memory
 * abort is reported instead of ending the run. Run: `deno run -A bench/model_throughput.ts --help`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { BackendName, createDenseNet, exportOnnx, selectBackend, tf, type tfl } from "../lib/model/mod.ts";
import { type GradientWorkers, startGradientWorkers, trainStep } from "../lib/train/mod.ts";
import { startOnnxGradients } from "../lib/train/onnx_gradients.ts";
import { onnxSessionOptions } from "../lib/model/onnx_runtime.ts";

/** One measurement. */
export interface Throughput {
  /** `tfjs-wasm`, `tfjs-cpu`, `tfjs-wasm-2w`, `onnx-1t`, `torch-1t`, ... */
  runtime: string;
  /** Input height and width. */
  size: number;
  /** Images per step. */
  batch: number;
  /** Inference images per second. */
  forward?: number;
  /** Training (forward + backward + SGD update) images per second. */
  train?: number;
  /** Peak resident set size of the process in bytes (`Deno.memoryUsage().rss`, sampled); ONNX Runtime rows. */
  rss?: number;
  /** Why it could not be measured. */
  error?: string;
}

/**
 * `images` x `repeats` / seconds of `repeats` calls of `fn`, after `warmups` warm-up calls (kernel set-up, first
 * allocations) unless `repeats` is 1 (slow single runs, and `--max-batch`).
 */
async function rate(images: number, repeats: number, fn: () => Promise<void>, warmups = 1): Promise<number> {
  if (repeats > 1) { for (let i = 0; i < warmups; i++) await fn(); }
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) await fn();
  return (images * repeats) / ((performance.now() - t0) / 1000);
}

/**
 * Forward and training images per second of DenseNet-121 on `backend`. With `workers` > 1, training only, on
 * that many gradient threads (lib/train/parallel.ts), each taking `batch` images of a step.
 */
async function measureTfjs(
  backend: BackendName,
  size: number,
  batch: number,
  repeats: number,
  workers = 1,
): Promise<Throughput> {
  await selectBackend(backend);
  const model = createDenseNet({ inputSize: size });
  using pool = workers > 1 ? await startGradientWorkers(model, { workers }) : undefined;
  const n = batch * workers;
  const x = tf.randomUniform([n, size, size, 1], 0, 255);
  const y = tf.cast(tf.greater(tf.randomUniform([n, 14]), 0.7), "float32");
  const forward = async () => {
    const out = model.predict(x) as tf.Tensor;
    await out.data();
    out.dispose();
  };
  const optimizer = tf.train.sgd(0.01);
  // The training step `train` runs (lib/train/step.ts: its lean forward pass and loss), passes of `batch`.
  const step = async () => {
    await trainStep(model, optimizer, x, y, { microBatch: batch, ...(pool ? { workers: pool } : {}) });
  };
  if (pool) {
    return { runtime: `tfjs-${backend}-${workers}w`, size, batch: n, train: await rate(n, repeats, step) };
  }
  const result: Throughput = {
    runtime: `tfjs-${backend}`,
    size,
    batch,
    forward: await rate(n, repeats, forward),
  };
  result.train = await rate(n, repeats, step);
  return result;
}

/**
 * Forward and training images per second of DenseNet-121 on ONNX Runtime with `threads` intra-op threads:
 * the forward pass is `exportOnnx`'s graph in an inference session (as lib/model/onnx_runtime.ts opens it),
 * the training step `trainStep` with `startOnnxGradients`' engine (one micro-batch of `batch`), the weights
 * and the SGD update on tfjs wasm. The inference session is released before the training engine starts;
 * `rss` is the process's peak resident set size over both, sampled every 20 ms and after every call.
 */
async function measureOnnx(
  size: number,
  batch: number,
  repeats: number,
  threads: number,
): Promise<Throughput> {
  let peak = Deno.memoryUsage().rss;
  const sample = () => void (peak = Math.max(peak, Deno.memoryUsage().rss));
  const timer = setInterval(sample, 20);
  try {
    const { model, x, y } = await denseNetBatch(size, batch);
    const session = await ort.InferenceSession.create(
      await exportOnnx(model),
      onnxSessionOptions("cpu", threads),
    );
    const image = new ort.Tensor("float32", await x.data() as Float32Array, [batch, size, size, 1]);
    const forward = async () => {
      const { probabilities } = await session.run({ image }, ["probabilities"]);
      if (probabilities?.dims[0] !== batch) throw new Error("ONNX Runtime returned no probabilities");
      sample();
    };
    const result: Throughput = { runtime: `onnx-${threads}t`, size, batch };
    try {
      result.forward = await rate(batch, repeats, forward);
    } finally {
      await session.release();
    }
    using engine = await startOnnxGradients(model, { threads });
    return await onnxTrain(model, x, y, batch, repeats, engine, result, sample, () => peak);
  } finally {
    clearInterval(timer);
  }
}

/** DenseNet-121 for `size` px on tfjs wasm (where the weights and the SGD update live), `n` random images and labels. */
async function denseNetBatch(
  size: number,
  n: number,
): Promise<{ model: tfl.LayersModel; x: tf.Tensor; y: tf.Tensor }> {
  await selectBackend("wasm");
  const model = createDenseNet({ inputSize: size });
  const x = tf.randomUniform([n, size, size, 1], 0, 255);
  const y = tf.cast(tf.greater(tf.randomUniform([n, 14]), 0.7), "float32");
  return { model, x, y };
}

/**
 * Training img/s of `engine` (trainStep, micro-batch `batch`, SGD on tfjs): two warm-up steps, then `repeats`;
 * fills `result.train` and `result.rss`.
 */
async function onnxTrain(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  batch: number,
  repeats: number,
  engine: GradientWorkers,
  result: Throughput,
  sample: () => void,
  peak: () => number,
): Promise<Throughput> {
  {
    const optimizer = tf.train.sgd(0.01);
    const step = async () => {
      await trainStep(model, optimizer, x, y, { microBatch: batch, workers: engine });
      sample();
    };
    // Two warm-up steps: ONNX Runtime's allocations settle only after its second run (measured at 224, batch 8,
    // 1 thread: 3.2, 3.9, then 2.4 s per step).
    result.train = await rate(x.shape[0], repeats, step, 2);
    sample();
    result.rss = peak();
    return result;
  }
}

/**
 * Training img/s of ONNX Runtime data-parallel (train --engine onnx --workers N): N sessions of one thread
 * (this thread's and N-1 Deno Workers'), a step of N x `batch` images, each session taking a micro-batch of
 * `batch` (as the tfjs-wasm-Nw rows; compare with torch at N threads).
 */
async function measureOnnxWorkers(
  size: number,
  batch: number,
  repeats: number,
  workers: number,
): Promise<Throughput> {
  let peak = Deno.memoryUsage().rss;
  const sample = () => void (peak = Math.max(peak, Deno.memoryUsage().rss));
  const timer = setInterval(sample, 20);
  try {
    const n = batch * workers;
    const { model, x, y } = await denseNetBatch(size, n);
    using engine = await startGradientWorkers(model, { workers, engine: "onnx", threads: 1 });
    const result: Throughput = { runtime: `onnx-${workers}w`, size, batch: n };
    // RSS is this process's: the workers are threads of it.
    return await onnxTrain(model, x, y, batch, repeats, engine, result, sample, () => peak);
  } finally {
    clearInterval(timer);
  }
}

const TORCH = `
import json, sys, time, torch, torchvision
size, batch, threads, repeats = map(int, sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)
m = torchvision.models.densenet121(num_classes=14)
x = torch.rand(batch, 3, size, size)
y = (torch.rand(batch, 14) > 0.7).float()
opt = torch.optim.SGD(m.parameters(), lr=0.01)
lossf = torch.nn.BCEWithLogitsLoss()
def rate(fn):
    fn()
    t = time.perf_counter()
    for _ in range(repeats): fn()
    return batch * repeats / (time.perf_counter() - t)
m.eval()
def fwd():
    with torch.no_grad(): m(x)
def step():
    opt.zero_grad(); loss = lossf(m(x), y); loss.backward(); opt.step()
f = rate(fwd)
m.train()
print(json.dumps({"forward": f, "train": rate(step)}))
`;

function measureTorch(
  python: string,
  size: number,
  batch: number,
  threads: number,
  repeats: number,
): Throughput {
  const runtime = `torch-${threads}t`;
  const r = spawnSync(python, ["-c", TORCH, String(size), String(batch), String(threads), String(repeats)], {
    encoding: "utf8",
  });
  if (r.status !== 0) {
    return {
      runtime,
      size,
      batch,
      error: (r.stderr || r.error?.message || "failed").trim().split("\n").at(-1) ?? "failed",
    };
  }
  return { runtime, size, batch, ...JSON.parse(r.stdout.trim().split("\n").pop()!) };
}

/**
 * One measurement in a fresh subprocess (`--child backend:size:batch:repeats[:workers]`). For backend `onnx`
 * the last field is ONNX Runtime's thread count, otherwise the gradient workers of `measureTfjs`.
 */
function child(backend: string, size: number, batch: number, repeats: number, workers = 1): Throughput {
  const r = spawnSync(Deno.execPath(), [
    "run",
    "-A",
    fileURLToPath(import.meta.url),
    "--child",
    `${backend}:${size}:${batch}:${repeats}:${workers}`,
  ], { encoding: "utf8", maxBuffer: 1 << 24 });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status === 0 && last.startsWith("{")) return JSON.parse(last);
  const why = (r.stderr || "").split("\n").find((l) => /error|abort|memory/i.test(l)) ??
    (r.signal ? `killed by ${r.signal}` : `exit ${r.status}`);
  const runtime = backend === "onnx"
    ? `onnx-${workers}t`
    : backend === "onnxw"
    ? `onnx-${workers}w`
    : `tfjs-${backend}${workers > 1 ? `-${workers}w` : ""}`;
  return {
    runtime,
    size,
    batch: backend === "onnx" ? batch : batch * workers,
    error: why.trim().slice(0, 200),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      backends: { type: "string", default: "wasm,cpu" },
      sizes: { type: "string", default: "224,128" },
      batch: { type: "string", default: "2" },
      repeats: { type: "string", default: "3" },
      torch: { type: "string", default: "/usr/bin/python3" },
      "torch-threads": { type: "string", default: "1,2" },
      "onnx-threads": { type: "string", default: "1,2" },
      workers: { type: "string", default: "1" },
      "max-batch": { type: "string" },
      child: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(`deno run -A bench/model_throughput.ts [--backends wasm,cpu] [--sizes 224,128] [--batch 2,8]
  [--repeats 3] [--torch /usr/bin/python3 | --torch ""] [--torch-threads 1,2] [--onnx-threads 1,2 | --onnx-threads ""]
  [--workers 1,2] [--max-batch wasm:224 | --max-batch onnx:224] [--json]
--workers 1,2 also measures training with 2 gradient threads (train --workers; lib/train/parallel.ts): a step of
2 x batch images, each thread taking a batch (tfjs-wasm-2w rows; compare with torch at 2 threads).
--onnx-threads 1,2 measures ONNX Runtime (onnxruntime-node, CPU) on 1 and 2 intra-op threads (onnx-1t, onnx-2t
rows): forward = exportOnnx's graph in an inference session, train = trainStep with startOnnxGradients' engine at
micro-batch = batch (weights and SGD on tfjs wasm; train --engine onnx). Their note is onnx/torch at the same
threads, size and batch ("x torch-Nt"); --onnx-threads "" skips them. --backends "" measures only torch and onnx.
With --workers 1,2 and onnx rows, onnx-2w measures training on 2 data-parallel ONNX Runtime sessions of 1 thread
(train --engine onnx --workers 2): a step of 2 x batch images, noted against torch-2t.
cpu runs batch 1 once, without warm-up (it is slow: minutes per training step at 224); torch and onnx then also
run at batch 1. --max-batch B:S tries training steps with batch 1, 2, ... 16 on backend B at size S until one fails
(wasm: its 4 GB heap); B = onnx tries ORT training steps (micro-batch = batch) on the largest --onnx-threads
count, reports each one's peak RSS and stops once that passes 80% of the machine's memory.`);
    Deno.exit(0);
  }
  if (values.child) {
    const [backend, size, batch, repeats, workers = "1"] = values.child.split(":");
    if (backend === undefined || size === undefined || batch === undefined || repeats === undefined) {
      throw new TypeError(
        `--child wants backend:size:batch:repeats[:workers] (backend onnx: workers = threads), got "${values.child}"`,
      );
    }
    const r = backend === "onnx"
      ? await measureOnnx(+size, +batch, +repeats, +workers)
      : backend === "onnxw"
      ? await measureOnnxWorkers(+size, +batch, +repeats, +workers)
      : await measureTfjs(backend as BackendName, +size, +batch, +repeats, +workers);
    console.log(JSON.stringify(r));
    Deno.exit(0);
  }
  const onnxThreads = values["onnx-threads"].split(",").filter((t) => t.trim() !== "").map(Number);
  if (onnxThreads.some((t) => !Number.isInteger(t) || t < 1)) {
    throw new TypeError(`--onnx-threads wants positive integers (e.g. 1,2), got "${values["onnx-threads"]}"`);
  }
  const results: Throughput[] = [];
  const report = (r: Throughput) => {
    console.error(JSON.stringify(r));
    results.push(r);
    return r;
  };
  if (values["max-batch"]) {
    const [backend, size] = values["max-batch"].split(":");
    if (backend === undefined || size === undefined) {
      throw new TypeError(`--max-batch wants backend:size (e.g. wasm:224), got "${values["max-batch"]}"`);
    }
    const threads = backend === "onnx"
      ? (onnxThreads.length ? Math.max(...onnxThreads) : navigator.hardwareConcurrency || 1)
      : 1;
    const memory = Deno.systemMemoryInfo().total;
    for (let b = 1; b <= 16; b++) {
      const r = report(child(backend, +size, b, 1, threads));
      if (r.error || (r.rss ?? 0) > 0.8 * memory) break;
    }
  } else {
    const backends = values.backends.split(",").filter((b) => b.trim() !== "");
    for (const size of values.sizes.split(",").map(Number)) {
      for (const batch of values.batch.split(",").map(Number)) {
        // Without tfjs backends, one pass for torch and onnx alone.
        for (const backend of backends.length ? backends : [undefined]) {
          const slow = backend === "cpu";
          const repeats = slow ? 1 : +values.repeats;
          const rowBatch = backend ? report(child(backend, size, slow ? 1 : batch, repeats)).batch : batch;
          for (const w of values.workers.split(",").map(Number).filter((w) => w > 1 && backend && !slow)) {
            report(child(backend!, size, batch, +values.repeats, w));
          }
          if (values.torch) {
            for (const t of values["torch-threads"].split(",").map(Number)) {
              report(measureTorch(values.torch, size, rowBatch, t, repeats));
            }
          }
          // ONNX Runtime is not slow at batch 1: full repeats; once per (size, batch) across the backends.
          for (const t of onnxThreads) {
            const runtime = `onnx-${t}t`;
            if (results.some((p) => p.runtime === runtime && p.size === size && p.batch === rowBatch)) {
              continue;
            }
            report(child("onnx", size, rowBatch, +values.repeats, t));
          }
          for (const w of values.workers.split(",").map(Number).filter((w) => w > 1 && onnxThreads.length)) {
            if (
              results.some((p) => p.runtime === `onnx-${w}w` && p.size === size && p.batch === rowBatch * w)
            ) {
              continue;
            }
            report(child("onnxw", size, rowBatch, +values.repeats, w));
          }
        }
      }
    }
  }
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else {
    const fmt = (v?: number) => (v === undefined ? "-" : v < 0.1 ? v.toPrecision(2) : v.toFixed(2));
    console.log(
      "| runtime | size | batch | forward img/s | train img/s | note |\n| --- | --- | --- | --- | --- | --- |",
    );
    const find = (runtime: string, r: Throughput) =>
      results.find((p) => p.runtime === runtime && p.size === r.size && p.batch === r.batch);
    const times = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}x` : "-");
    for (const r of results) {
      const notes: string[] = [];
      const torch = find("torch-1t", r);
      if (r.runtime.startsWith("tfjs") && torch?.forward && r.forward) {
        notes.push(
          `torch-1t is ${(torch.forward / r.forward).toFixed(1)}x fwd, ${
            (torch.train! / r.train!).toFixed(1)
          }x train`,
        );
      }
      const threads = /^onnx-(\d+)t$/.exec(r.runtime)?.[1];
      const peer = threads ? find(`torch-${threads}t`, r) : undefined;
      if (peer && !peer.error) {
        notes.push(
          `${times(r.forward, peer.forward)} torch-${threads}t fwd, ${times(r.train, peer.train)} train`,
        );
      }
      // onnx-Nw (N workers x batch) against torch at N threads and the per-worker batch.
      const w = Number(/^onnx-(\d+)w$/.exec(r.runtime)?.[1] ?? 0);
      const torchN = w
        ? results.find((p) => p.runtime === `torch-${w}t` && p.size === r.size && p.batch === r.batch / w)
        : undefined;
      if (torchN && !torchN.error) notes.push(`${times(r.train, torchN.train)} torch-${w}t train`);
      if (r.rss) notes.push(`peak RSS ${Math.round(r.rss / 2 ** 20)} MiB`);
      console.log(
        `| ${r.runtime} | ${r.size} | ${r.batch} | ${fmt(r.forward)} | ${fmt(r.train)} | ${
          r.error ?? notes.join("; ")
        } |`,
      );
    }
  }
}
