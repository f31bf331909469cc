/**
 * DenseNet-121 at 224 forward throughput on CPU: ONNX Runtime (this project's exporter, 1 and 2 intra-op
 * threads, batch 1 and 8) against tfjs on wasm and PyTorch (Debian's python3-torch + torchvision
 * densenet121, eval, no_grad, 1 and 2 threads), all in one run on the same machine, printed as a table.
 *
 * Run: `deno run -A bench/onnx.ts [--seconds 3] [--batches 1,8] [--threads 1,2] [--torch /usr/bin/python3 | --torch ""] [--json]`
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import {
  createDenseNet,
  openPredictor,
  type Predictor,
  saveBundle,
  selectBackend,
  writeBundleOnnx,
} from "../lib/model/mod.ts";

/** One measured configuration. */
export interface OnnxBenchRow {
  /** `onnx`, `tfjs-wasm` or `torch`. */
  runtime: string;
  /** Threads used (wasm is single-threaded under Deno). */
  threads: number;
  /** Images per call. */
  batch: number;
  /** Images per second, or null with `error`. */
  imagesPerSecond: number | null;
  /** Milliseconds per call. */
  msPerBatch: number | null;
  /** Process CPU milliseconds (user + system, all threads) per image: comparable on a busy machine. */
  cpuMsPerImage: number | null;
  /** Why it could not be measured. */
  error?: string;
}

/** Wall and process CPU milliseconds per call, after one warm-up call. */
async function timeIt(seconds: number, run: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  await run(); // warm-up
  const cpu = cpuUsage();
  const started = performance.now();
  let calls = 0;
  while (calls < 2 || performance.now() - started < seconds * 1000) {
    await run();
    calls++;
  }
  const used = cpuUsage(cpu);
  return { wall: (performance.now() - started) / calls, cpu: (used.user + used.system) / 1000 / calls };
}

async function measure(
  runtime: string,
  threads: number,
  batch: number,
  seconds: number,
  predictor: Predictor,
): Promise<OnnxBenchRow> {
  const pixels = new Uint8Array(batch * 224 * 224);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  try {
    const { wall, cpu } = await timeIt(seconds, () => predictor.predict(pixels, batch));
    return {
      runtime,
      threads,
      batch,
      imagesPerSecond: (1000 * batch) / wall,
      msPerBatch: wall,
      cpuMsPerImage: cpu / batch,
    };
  } catch (e) {
    const [error = ""] = String(e).split("\n");
    return { runtime, threads, batch, imagesPerSecond: null, msPerBatch: null, cpuMsPerImage: null, error };
  }
}

const TORCH = `
import json, sys, time, torch, torchvision
batch, threads, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
m = torchvision.models.densenet121(num_classes=14).eval()
x = torch.rand(batch, 3, 224, 224)
with torch.no_grad():
    torch.sigmoid(m(x))
    calls, start, cpu = 0, time.perf_counter(), time.process_time()
    while calls < 2 or time.perf_counter() - start < seconds:
        torch.sigmoid(m(x))
        calls += 1
print(json.dumps({"ms": (time.perf_counter() - start) * 1000 / calls,
                  "cpu": (time.process_time() - cpu) * 1000 / calls}))
`;

function measureTorch(python: string, threads: number, batch: number, seconds: number): OnnxBenchRow {
  const r = spawnSync(python, ["-c", TORCH, String(batch), String(threads), String(seconds)], {
    encoding: "utf8",
    timeout: 600_000,
  });
  const row = { runtime: "torch", threads, batch };
  if (r.status !== 0) {
    const why = r.error?.message ?? (r.stderr.trim().split("\n").pop() || `exit ${r.status}`);
    return { ...row, imagesPerSecond: null, msPerBatch: null, cpuMsPerImage: null, error: why };
  }
  const { ms, cpu } = JSON.parse(r.stdout.trim().split("\n").pop()!);
  return { ...row, imagesPerSecond: (1000 * batch) / ms, msPerBatch: ms, cpuMsPerImage: cpu / batch };
}

/**
 * Builds DenseNet-121 with its (untrained, seeded) weights, writes the bundle and model.onnx, measures every
 * configuration and returns the rows.
 *
 * @example
 * ```ts ignore
 * const rows = await benchOnnx({ seconds: 1, batches: [1], threads: [1], python: "" });
 * ```
 */
export async function benchOnnx(
  options: { seconds: number; batches: number[]; threads: number[]; python: string },
): Promise<OnnxBenchRow[]> {
  await selectBackend("wasm");
  const dir = join(await Deno.makeTempDir({ prefix: "cxr-bench-onnx-" }), "bundle");
  const model = createDenseNet({});
  await saveBundle(model, dir, { modelVersion: "bench" });
  await writeBundleOnnx(dir, { model });
  model.dispose();
  const rows: OnnxBenchRow[] = [];
  for (const threads of options.threads) {
    const predictor = await openPredictor(dir, { engine: "onnx", threads });
    for (const batch of options.batches) {
      rows.push(await measure("onnx", threads, batch, options.seconds, predictor));
    }
    await predictor.dispose();
  }
  const tfjs = await openPredictor(dir, { engine: "tfjs" });
  for (const batch of options.batches) rows.push(await measure("tfjs-wasm", 1, batch, options.seconds, tfjs));
  await tfjs.dispose();
  if (options.python) {
    for (const threads of options.threads) {
      for (const batch of options.batches) {
        rows.push(measureTorch(options.python, threads, batch, options.seconds));
      }
    }
  }
  await Deno.remove(dir, { recursive: true });
  return rows;
}

/**
 * Renders rows as a Markdown table with each row's speed relative to PyTorch at the same threads and batch,
 * by wall-clock throughput and by CPU time per image (the fair one when other work shares the cores).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const row = { runtime: "torch", threads: 1, batch: 1, imagesPerSecond: 2, msPerBatch: 500, cpuMsPerImage: 500 };
 * assert.match(formatOnnxBench([row]), /\| torch \| 1 \| 1 \| 2.00 \| 500 \| 500 \| 1.00x \| 1.00x \|/);
 * ```
 */
export function formatOnnxBench(rows: OnnxBenchRow[]): string {
  const lines = [
    "| runtime | threads | batch | img/s | ms/batch | CPU ms/img | vs torch (img/s) | vs torch (CPU) |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const torch = rows.find((t) => t.runtime === "torch" && t.threads === r.threads && t.batch === r.batch);
    const ratio = r.imagesPerSecond && torch?.imagesPerSecond
      ? `${(r.imagesPerSecond / torch.imagesPerSecond).toFixed(2)}x`
      : "-";
    const speed = r.imagesPerSecond === null ? `failed: ${r.error}` : r.imagesPerSecond.toFixed(2);
    const ms = r.msPerBatch === null ? "-" : r.msPerBatch.toFixed(0);
    const cpu = r.cpuMsPerImage === null ? "-" : r.cpuMsPerImage.toFixed(0);
    const cpuRatio = r.cpuMsPerImage && torch?.cpuMsPerImage
      ? `${(torch.cpuMsPerImage / r.cpuMsPerImage).toFixed(2)}x`
      : "-";
    lines.push(
      `| ${r.runtime} | ${r.threads} | ${r.batch} | ${speed} | ${ms} | ${cpu} | ${ratio} | ${cpuRatio} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      seconds: { type: "string", default: "3" },
      batches: { type: "string", default: "1,8" },
      threads: { type: "string", default: "1,2" },
      torch: { type: "string", default: "/usr/bin/python3" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(
      'deno run -A bench/onnx.ts [--seconds 3] [--batches 1,8] [--threads 1,2] [--torch /usr/bin/python3 | --torch ""] [--json]',
    );
    Deno.exit(0);
  }
  const list = (s: string) => s.split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const rows = await benchOnnx({
    seconds: Number(values.seconds),
    batches: list(values.batches),
    threads: list(values.threads),
    python: values.torch,
  });
  console.log(values.json ? JSON.stringify(rows) : formatOnnxBench(rows));
}
