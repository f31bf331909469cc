/**
 * DenseNet-121 throughput: forward and training-step images per second on the tfjs backends present
 * (wasm, cpu, ...) and PyTorch on CPU (Debian's python3-torch) for the same step, side by side.
 *
 * Every (backend, size) runs in its own subprocess so a fresh wasm heap is measured and an out-of-memory
 * abort is reported instead of ending the run. Run: `deno run -A bench/model_throughput.ts --help`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { BackendName, createDenseNet, selectBackend, tf } from "../lib/model/mod.ts";
import { startGradientWorkers, trainStep } from "../lib/train/mod.ts";

/** One measurement. */
export interface Throughput {
  /** `tfjs-wasm`, `tfjs-cpu`, `torch-1t`, ... */
  runtime: string;
  /** Input height and width. */
  size: number;
  /** Images per step. */
  batch: number;
  /** Inference images per second. */
  forward?: number;
  /** Training (forward + backward + SGD update) images per second. */
  train?: number;
  /** Why it could not be measured. */
  error?: string;
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
  const rate = async (fn: () => Promise<void>) => {
    if (repeats > 1) await fn(); // warm-up (kernel set-up, first allocations); skipped for slow single runs
    const t0 = performance.now();
    for (let i = 0; i < repeats; i++) await fn();
    return (n * repeats) / ((performance.now() - t0) / 1000);
  };
  if (pool) return { runtime: `tfjs-${backend}-${workers}w`, size, batch: n, train: await rate(step) };
  const result: Throughput = { runtime: `tfjs-${backend}`, size, batch, forward: await rate(forward) };
  result.train = await rate(step);
  return result;
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
  const why = (r.stderr || "").split("\n").find((l) => /error|abort|memory/i.test(l)) ?? `exit ${r.status}`;
  return { runtime: `tfjs-${backend}`, size, batch, error: why.trim().slice(0, 200) };
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
      workers: { type: "string", default: "1" },
      "max-batch": { type: "string" },
      child: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(`deno run -A bench/model_throughput.ts [--backends wasm,cpu] [--sizes 224,128] [--batch 2,8]
  [--repeats 3] [--torch /usr/bin/python3 | --torch ""] [--torch-threads 1,2] [--workers 1,2] [--max-batch wasm:224] [--json]
--workers 1,2 also measures training with 2 gradient threads (train --workers; lib/train/parallel.ts): a step of
2 x batch images, each thread taking a batch (tfjs-wasm-2w rows; compare with torch at 2 threads).
cpu runs batch 1 once, without warm-up (it is slow: minutes per training step at 224). --max-batch B:S tries training steps with batch 1, 2, ... on
backend B at size S until one fails (wasm: its 4 GB heap).`);
    Deno.exit(0);
  }
  if (values.child) {
    const [backend, size, batch, repeats, workers = "1"] = values.child.split(":");
    if (backend === undefined || size === undefined || batch === undefined || repeats === undefined) {
      throw new TypeError(`--child wants backend:size:batch:repeats[:workers], got "${values.child}"`);
    }
    const r = await measureTfjs(backend as BackendName, +size, +batch, +repeats, +workers);
    console.log(JSON.stringify(r));
    Deno.exit(0);
  }
  const results: Throughput[] = [];
  if (values["max-batch"]) {
    const [backend, size] = values["max-batch"].split(":");
    if (backend === undefined || size === undefined) {
      throw new TypeError(`--max-batch wants backend:size (e.g. wasm:224), got "${values["max-batch"]}"`);
    }
    for (let b = 1; b <= 16; b++) {
      const r = child(backend, +size, b, 1);
      console.error(JSON.stringify(r));
      results.push(r);
      if (r.error) break;
    }
  } else {
    for (const size of values.sizes.split(",").map(Number)) {
      for (const batch of values.batch.split(",").map(Number)) {
        for (const backend of values.backends.split(",")) {
          const slow = backend === "cpu";
          const r = child(backend, size, slow ? 1 : batch, slow ? 1 : +values.repeats);
          console.error(JSON.stringify(r));
          results.push(r);
          for (const w of values.workers.split(",").map(Number).filter((w) => w > 1 && !slow)) {
            const p = child(backend, size, batch, +values.repeats, w);
            console.error(JSON.stringify(p));
            results.push(p);
          }
          if (values.torch) {
            for (const t of values["torch-threads"].split(",").map(Number)) {
              const p = measureTorch(values.torch, size, r.batch, t, slow ? 1 : +values.repeats);
              console.error(JSON.stringify(p));
              results.push(p);
            }
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
    for (const r of results) {
      const torch = results.find((p) => p.runtime === "torch-1t" && p.size === r.size && p.batch === r.batch);
      const ratio = r.runtime.startsWith("tfjs") && torch?.forward && r.forward
        ? `torch-1t is ${(torch.forward / r.forward).toFixed(1)}x fwd, ${
          (torch.train! / r.train!).toFixed(1)
        }x train`
        : "";
      console.log(
        `| ${r.runtime} | ${r.size} | ${r.batch} | ${fmt(r.forward)} | ${fmt(r.train)} | ${
          r.error ?? ratio
        } |`,
      );
    }
  }
}
