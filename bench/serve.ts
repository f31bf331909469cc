/**
 * Scoring service benchmark: DenseNet-121 at 224 (seeded random weights, the real architecture and size)
 * saved as a bundle with `model.onnx`, served by `deno task cxr serve` as a subprocess per engine (onnx;
 * tfjs on wasm), loaded with Debian's `wrk` POSTing a real NIH PNG with the Bearer key at 1, 8 and 32
 * connections: p50/p99 latency, requests/s, answers by status, and the service's peak RSS (VmHWM). In the same
 * run, PyTorch CPU (Debian python3-torch + torchvision) densenet121 single-image latency including PNG
 * decode and resize, at 1 and 2 threads, as the ratio to beat. Prints a markdown table and one JSON line.
 *
 *   deno run -A bench/serve.ts [--duration 15] [--connections 1,8,32] [--engines onnx,tfjs] [--max-concurrent 2]
 *     [--torch-iterations 30]   (0 skips PyTorch)
 *
 * The service runs with its default of 2 images scored at once (`--max-concurrent`) and a queue of 64, so 32 connections wait
 * rather than get 503 (counted in the table if any). wrk, the service and PyTorch share this machine's cores:
 * say how many, and the load average printed, when quoting the figures. wrk counts only the answers received
 * within a run, so when 32 connections queue more work than a run can drain (a slow engine), p50/p99 cover
 * the answered requests only: lengthen `--duration` for those.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type BenchService, buildSeededDenseNetBundle, rssMiB, startServe } from "./_bundle.ts";
import { NIH_SAMPLE, REPO_ROOT } from "../tests/_fixtures.ts";

/** One wrk run against one engine. */
export interface ServeBenchRow {
  /** `onnx` or `tfjs (wasm)`. */
  engine: string;
  /** wrk connections. */
  connections: number;
  /** Answers per second (all statuses). */
  requestsPerSecond: number;
  /** Latency percentiles over all answers, milliseconds. */
  p50Ms: number;
  /** 99th percentile, milliseconds. */
  p99Ms: number;
  /** Answers by status. */
  ok: number;
  /** 503 answers (queue full). */
  busy: number;
  /** Other statuses, socket errors and wrk timeouts. */
  errors: number;
  /** The service's peak resident memory so far (VmHWM), MiB. */
  peakRssMiB: number;
}

const KEY = "bench-serve-key-0123456789abcdef";
const IMAGE = join(NIH_SAMPLE, "images", "00000100_000.png");
const WORK = join(REPO_ROOT, ".work", "bench-serve");
const BUNDLE = join(WORK, "densenet121-224");
const LUA = join(REPO_ROOT, "bench", "serve_wrk.lua");
const PYTHON = "/usr/bin/python3";

async function buildBundle(): Promise<void> {
  await buildSeededDenseNetBundle(BUNDLE);
}

function startService(engine: "onnx" | "tfjs", maxConcurrent: number): Promise<BenchService> {
  const args = ["--engine", engine, "--queue", "64", "--max-concurrent", String(maxConcurrent)];
  return startServe(REPO_ROOT, BUNDLE, [...args, ...(engine === "tfjs" ? ["--backend", "wasm"] : [])], {
    key: KEY,
  });
}

/** The `CXR_WRK` line that serve_wrk.lua prints: counts and latencies in microseconds. */
interface WrkSummary {
  requests: number;
  durationUs: number;
  ok: number;
  busy: number;
  otherStatus: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  connectErrors: number;
  readErrors: number;
  timeouts: number;
}

async function runWrk(url: string, connections: number, seconds: number): Promise<WrkSummary> {
  const out = await new Deno.Command("wrk", {
    args: [
      "-t",
      String(Math.min(2, connections)),
      "-c",
      String(connections),
      "-d",
      `${seconds}s`,
      "--timeout",
      "120s",
      "-s",
      LUA,
      `${url}/score`,
    ],
    env: { CXR_BENCH_IMAGE: IMAGE, CXR_SCORING_KEY: KEY },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const line = text.split("\n").find((l) => l.startsWith("CXR_WRK "));
  if (!out.success || !line) throw new Error(`wrk failed: ${text}${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(line.slice("CXR_WRK ".length));
}

async function torchRows(threads: string, iterations: number): Promise<Record<string, number>[]> {
  const out = await new Deno.Command(PYTHON, {
    args: [
      join(REPO_ROOT, "bench", "torch_latency.py"),
      IMAGE,
      "--threads",
      threads,
      "--iterations",
      String(iterations),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
    console.error(`PyTorch reference unavailable: ${err}`);
    return [];
  }
  return new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
}

async function warmUp(url: string, n: number): Promise<void> {
  const body = readFileSync(IMAGE);
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${url}/score`, {
      method: "POST",
      headers: { "content-type": "image/png", authorization: `Bearer ${KEY}` },
      body,
    });
    if (r.status !== 200) throw new Error(`warm-up request answered ${r.status}: ${await r.text()}`);
    await r.body?.cancel();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      duration: { type: "string", default: "15" },
      connections: { type: "string", default: "1,8,32" },
      engines: { type: "string", default: "onnx,tfjs" },
      "torch-iterations": { type: "string", default: "30" },
      "max-concurrent": { type: "string", default: "2" },
    },
  });
  const seconds = Number(values.duration);
  const connections = values.connections.split(",").map(Number);
  const engines = values.engines.split(",") as ("onnx" | "tfjs")[];
  const [loadBefore = NaN] = Deno.loadavg();
  console.error(`Building DenseNet-121 at 224 with seeded weights in ${BUNDLE} (once) ...`);
  await buildBundle();
  const rows: ServeBenchRow[] = [];
  for (const engine of engines) {
    console.error(`Starting cxr serve --engine ${engine} ...`);
    const service = await startService(engine, Number(values["max-concurrent"]));
    try {
      await warmUp(service.url, 5);
      for (const c of connections) {
        console.error(`  wrk ${c} connection(s), ${seconds} s`);
        const w = await runWrk(service.url, c, seconds);
        rows.push({
          engine: engine === "tfjs" ? "tfjs (wasm)" : "onnx",
          connections: c,
          requestsPerSecond: w.requests / (w.durationUs / 1e6),
          p50Ms: w.p50Us / 1000,
          p99Ms: w.p99Us / 1000,
          ok: w.ok,
          busy: w.busy,
          errors: w.otherStatus + w.connectErrors + w.readErrors + w.timeouts,
          peakRssMiB: rssMiB(service.pid, "VmHWM"),
        });
      }
    } finally {
      await service.stop();
    }
  }
  console.error("PyTorch CPU reference ...");
  const iterations = Number(values["torch-iterations"]);
  const torch = iterations > 0 ? await torchRows("1,2", iterations) : [];
  const cores = navigator.hardwareConcurrency;
  // Other work on the machine skews every figure: the 1-minute load average before and after says how much.
  const [loadAfter = NaN] = Deno.loadavg();
  const load = [loadBefore, loadAfter].map((l) => Number(l.toFixed(2)));
  const lines = [
    `Scoring service, DenseNet-121 at 224, one ${readFileSync(IMAGE).length}-byte NIH PNG per request, ` +
    `${cores} CPU cores shared by wrk and the service (scoring ${
      values["max-concurrent"]
    } at once), ${seconds} s per run, load average ${load[0]} before and ` +
    `${load[1]} after.`,
    "",
    "| engine | connections | req/s | p50 ms | p99 ms | 200 | 503 | errors | peak RSS MiB |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.engine} | ${r.connections} | ${r.requestsPerSecond.toFixed(2)} | ${r.p50Ms.toFixed(0)} | ${
        r.p99Ms.toFixed(0)
      } | ${r.ok} | ${r.busy} | ${r.errors} | ${r.peakRssMiB.toFixed(0)} |`
    ),
    "",
    "| PyTorch CPU densenet121 (PIL decode + resize included) | threads | p50 ms | p99 ms |",
    "| --- | ---: | ---: | ---: |",
    ...torch.map((t) => `| torch ${t.iterations} single images | ${t.threads} | ${t.p50Ms} | ${t.p99Ms} |`),
  ];
  console.log(lines.join("\n"));
  console.log(JSON.stringify({ rows, torch, cores, seconds, loadAverage: load }));
}
