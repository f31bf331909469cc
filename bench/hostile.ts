/**
 * Hostile-load benchmark of the scoring service's memory bounds (not a timed test). Starts the real service
 * (`cxr serve`, DenseNet-121 at 224 with seeded weights on ONNX Runtime, as `bench/serve.ts` builds it) as a
 * subprocess on 127.0.0.1, fresh for each mix, warms it with one NIH PNG, then sends one hostile mix while a
 * worker polls `/healthz` every 100 ms:
 *
 * - `nih` (the control, not hostile): 64 concurrent requests of the NIH PNG itself, the memory that scoring
 *   two at a time takes;
 * - `json-nested`: 4 concurrent ~18 MB JSON bodies, a valid image then `"heatmap"` holding nested arrays;
 * - `raw`: 64 concurrent 19 MB raw `image/png` bodies (an NIH PNG padded with zeros);
 * - `base64`: 64 concurrent 19 MB JSON bodies, the same padded PNG in base64;
 * - `png16`: 4 concurrent interlaced 7000×7000 16-bit RGBA PNGs (0.6 MB each, 392 MB decoded; made with
 *   sharp once into `.work/bench-hostile/`);
 * - `png16-cap`: 4 concurrent interlaced 2800×2800 16-bit RGBA PNGs, 62.7 MB decoded: just under the default
 *   64 MiB decode cap, so they are decoded and scored (the decode memory the cap admits);
 * - `all`: json-nested, raw, base64 and png16 at once (136 requests).
 *
 * Prints per mix: the service's peak RSS (VmHWM from `/proc/<pid>/status`) and its RSS before the mix,
 * `/healthz` max and p99 latency (and polls that failed or took over the liveness probe's 2 s timeout),
 * answers by status (`err` = the client saw no answer), and whether a legitimate request still scores after.
 * A markdown table, then one JSON line.
 *
 *   deno run -A bench/hostile.ts [--mixes nih,json-nested,raw,base64,png16,png16-cap,all] [--root DIR] [--label NAME]
 *     [--serve-args "--max-inflight-mb 64"]
 *
 * `--root` runs another checkout's `lib/cli/main.ts` (with its own deno.json), e.g. the code before a change:
 * `git archive HEAD lib tests bench | tar -x -C .work/before`, plus its deno.json and a node_modules link.
 * The load, the poller and the service share this machine's cores: quote the load average printed with the
 * figures.
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { type BenchService, buildSeededDenseNetBundle, rssMiB, startServe } from "./_bundle.ts";
import { NIH_SAMPLE, REPO_ROOT } from "../tests/_fixtures.ts";
import { base64 } from "../lib/display.ts";

/** One hostile mix against one service. */
export interface HostileRow {
  /** Which code ran (`--label`). */
  label: string;
  /** The mix's name. */
  mix: string;
  /** Requests sent. */
  requests: number;
  /** Answers by status; `err` = no answer (connection reset, timeout). */
  statuses: Record<string, number>;
  /** Resident memory after warm-up, before the mix, MiB. */
  rssBeforeMiB: number;
  /** Peak resident memory of the service over its life (VmHWM), MiB. */
  peakRssMiB: number;
  /** Slowest `/healthz` answer during the mix, ms (a failed poll counts as its 10 s timeout). */
  healthzMaxMs: number;
  /** 99th percentile of `/healthz` latency, ms. */
  healthzP99Ms: number;
  /** Polls made, and those that failed or took over the liveness probe's 2 s timeout. */
  healthzPolls: number;
  healthzOver2s: number;
  /** Wall time of the mix, seconds. */
  seconds: number;
  /** Status of a legitimate NIH PNG scored after the mix (`err` if the service is gone). */
  after: string;
}

const KEY = "bench-hostile-key-0123456789abcdef";
const IMAGE = join(NIH_SAMPLE, "images", "00000100_000.png");
const BUNDLE = join(REPO_ROOT, ".work", "bench-serve", "densenet121-224");
const WORK = join(REPO_ROOT, ".work", "bench-hostile");
const MIB = 1048576;

// The poller runs in a worker, its own thread and event loop, so the load this process generates does not
// delay it: its latency is the service's. Started with the service's URL; answers its latencies when told
// to stop (a failed poll counts as its 10 s timeout).
const POLLER = `
let stop = false;
self.onmessage = async (e) => {
  if (e.data.stop) return void (stop = true);
  const latencies = [];
  while (!stop) {
    const started = performance.now();
    try {
      const res = await fetch(e.data.url + "/healthz", { signal: AbortSignal.timeout(10000) });
      await res.body?.cancel();
      latencies.push(res.ok ? performance.now() - started : 10000);
    } catch {
      latencies.push(10000);
    }
    const wait = 100 - (performance.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  self.postMessage(latencies);
};`;

async function buildBundle(): Promise<void> {
  await buildSeededDenseNetBundle(BUNDLE);
}

/** An interlaced side² 16-bit RGBA PNG, made once. */
async function png16(side: number): Promise<Uint8Array> {
  const file = join(WORK, `rgba16-${side}-interlaced.png`);
  if (!existsSync(file)) {
    mkdirSync(WORK, { recursive: true });
    const png = await sharp({
      create: { width: side, height: side, channels: 4, background: { r: 120, g: 120, b: 120, alpha: 1 } },
      limitInputPixels: false,
    }).toColourspace("rgb16").png({ progressive: true, compressionLevel: 9 }).toBuffer();
    writeFileSync(file, png);
  }
  return readFileSync(file);
}

/** Requests of one kind: `count` concurrent copies of `body`. */
interface Part {
  count: number;
  contentType: string;
  body: Uint8Array;
}

interface Mix {
  name: string;
  parts: Part[];
}

const MIXES = ["nih", "json-nested", "raw", "base64", "png16", "png16-cap", "all"];

async function mixes(names: string[]): Promise<Mix[]> {
  const nih = readFileSync(IMAGE);
  const padded = new Uint8Array(19 * 1000 * 1000);
  padded.set(nih);
  const enc = new TextEncoder();
  const head = `{"image": "${base64(nih)}", "heatmap": [`;
  const unit = "[[[[[[[[[[0]]]]]]]]]],";
  const nested = head + unit.repeat(Math.floor((18 * 1000 * 1000 - head.length) / unit.length)) + "0]}";
  const b64 = padded.subarray(0, Math.floor((19 * 1000 * 1000 - 20) / 4) * 3);
  const parts = {
    "nih": () => Promise.resolve({ count: 64, contentType: "image/png", body: nih }),
    "json-nested": () =>
      Promise.resolve({ count: 4, contentType: "application/json", body: enc.encode(nested) }),
    "raw": () => Promise.resolve({ count: 64, contentType: "image/png", body: padded }),
    "base64": () =>
      Promise.resolve({
        count: 64,
        contentType: "application/json",
        body: enc.encode(`{"image": "${base64(b64)}"}`),
      }),
    "png16": async () => ({ count: 4, contentType: "image/png", body: await png16(7000) }),
    "png16-cap": async () => ({ count: 4, contentType: "image/png", body: await png16(2800) }),
  };
  const out: Mix[] = [];
  for (const name of names) {
    if (name === "all") {
      out.push({
        name,
        parts: await Promise.all((["json-nested", "raw", "base64", "png16"] as const).map((p) => parts[p]())),
      });
    } else {
      const part = Object.entries(parts).find(([key]) => key === name)?.[1];
      if (part === undefined) throw new RangeError(`Unknown mix "${name}"; mixes: ${MIXES.join(", ")}`);
      out.push({ name, parts: [await part()] });
    }
  }
  return out;
}

function startService(root: string, serveArgs: string[]): Promise<BenchService> {
  // SIGKILL on stop: a service that was OOM-killed or stalls must not hold the bench.
  const args = ["--engine", "onnx", "--host", "127.0.0.1", ...serveArgs];
  return startServe(root, BUNDLE, args, { key: KEY, stopSignal: "SIGKILL" });
}

async function send(url: string, contentType: string, body: Uint8Array, timeoutMs: number): Promise<string> {
  try {
    const res = await fetch(`${url}/score`, {
      method: "POST",
      headers: { "content-type": contentType, authorization: `Bearer ${KEY}` },
      body: body as Uint8Array<ArrayBuffer>,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel();
    return String(res.status);
  } catch {
    return "err";
  }
}

async function runMix(label: string, root: string, serveArgs: string[], mix: Mix): Promise<HostileRow> {
  const service = await startService(root, serveArgs);
  const nih = readFileSync(IMAGE);
  try {
    const warm = await send(service.url, "image/png", nih, 60_000);
    if (warm !== "200") throw new Error(`warm-up answered ${warm}`);
    const rssBeforeMiB = rssMiB(service.pid, "VmRSS");
    const poller = new Worker(`data:application/javascript,${encodeURIComponent(POLLER)}`, {
      type: "module",
    });
    const polled = new Promise<number[]>((resolve) => poller.onmessage = (e) => resolve(e.data));
    poller.postMessage({ url: service.url });
    await new Promise((r) => setTimeout(r, 300)); // a few polls of the idle service first
    const started = performance.now();
    const answers = await Promise.all(
      mix.parts.flatMap((p) =>
        Array.from({ length: p.count }, () => send(service.url, p.contentType, p.body, 120_000))
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 500));
    poller.postMessage({ stop: true });
    const latencies = (await polled).sort((a, b) => a - b);
    poller.terminate();
    const statuses: Record<string, number> = {};
    for (const a of answers) statuses[a] = (statuses[a] ?? 0) + 1;
    const after = await send(service.url, "image/png", nih, 60_000);
    return {
      label,
      mix: mix.name,
      requests: mix.parts.reduce((n, p) => n + p.count, 0),
      statuses,
      rssBeforeMiB,
      peakRssMiB: rssMiB(service.pid, "VmHWM"),
      healthzMaxMs: latencies.at(-1) ?? NaN,
      healthzP99Ms: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? NaN,
      healthzPolls: latencies.length,
      healthzOver2s: latencies.filter((l) => l > 2000).length,
      seconds,
      after,
    };
  } finally {
    await service.stop();
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      mixes: { type: "string", default: MIXES.join(",") },
      root: { type: "string", default: REPO_ROOT },
      label: { type: "string", default: "this checkout" },
      "serve-args": { type: "string", default: "" },
    },
  });
  const serveArgs = values["serve-args"].split(/\s+/).filter(Boolean);
  const [loadBefore = NaN] = Deno.loadavg();
  await buildBundle();
  const rows: HostileRow[] = [];
  for (const mix of await mixes(values.mixes.split(","))) {
    console.error(
      `${values.label}: ${mix.name}, ${
        mix.parts.map((p) => `${p.count} x ${(p.body.length / MIB).toFixed(1)} MiB`).join(" + ")
      } ...`,
    );
    rows.push(await runMix(values.label, values.root, serveArgs, mix));
    console.error(`  ${JSON.stringify(rows.at(-1))}`);
  }
  const [loadAfter = NaN] = Deno.loadavg();
  const load = [loadBefore, loadAfter].map((l) => l.toFixed(2));
  const fmt = (n: number) => Number.isFinite(n) ? n.toFixed(0) : "n/a";
  console.log([
    `Hostile mixes against cxr serve (DenseNet-121 224, onnx), ${navigator.hardwareConcurrency} shared cores, ` +
    `load average ${load[0]} before and ${load[1]} after; /healthz polled every 100 ms from a worker.`,
    "",
    "| code | mix | requests | answers | RSS before MiB | peak RSS MiB | healthz max ms | healthz p99 ms | polls > 2 s | s | after |",
    "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...rows.map((r) =>
      `| ${r.label} | ${r.mix} | ${r.requests} | ${
        Object.entries(r.statuses).map(([s, n]) => `${n}× ${s}`).join(", ")
      } | ${fmt(r.rssBeforeMiB)} | ${fmt(r.peakRssMiB)} | ${fmt(r.healthzMaxMs)} | ${
        fmt(r.healthzP99Ms)
      } | ${r.healthzOver2s}/${r.healthzPolls} | ${r.seconds.toFixed(1)} | ${r.after} |`
    ),
  ].join("\n"));
  console.log(JSON.stringify({ rows, loadAverage: load.map(Number), serveArgs }));
}
