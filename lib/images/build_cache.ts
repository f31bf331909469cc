/**
 * Building one cache file pair (a partition, or one shard of it) resumably: pixels are appended to
 * `<stem>.bin.part` in split order and each image is then recorded in `<stem>.progress` (a header line, then
 * one JSON line per image). A restart keeps every image recorded there, truncates the `.bin.part` to match and
 * goes on; only a complete build is renamed to `<stem>.bin` / `<stem>.json`, so a kill never leaves a
 * final-named partial cache.
 *
 * @module
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { ftruncateSync, mkdirSync, statSync, writeFileSync, writeSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { FINDINGS } from "../nih/classes.ts";
import type { Partition } from "../nih/split.ts";
import {
  type CacheFailure,
  type CacheShard,
  cacheStem,
  formatCacheIndex,
  parseCacheIndex,
} from "./cache_format.ts";
import { decodeImage } from "./decode.ts";

/** What to build: one partition, or one contiguous slice (shard) of it. */
export interface CacheJob {
  partition: Partition;
  /** Side S of the output images. */
  size: number;
  /** Image names to decode, in order. */
  names: readonly string[];
  /** Labels of `names`, 14 `0`/`1` characters each. */
  labels: readonly string[];
  /** The split file's digest, recorded in the index. */
  splitDigest: string;
  /** Set when building one shard of the partition. */
  shard?: CacheShard;
}

/** Reported after each image. */
export interface CacheBuildProgress {
  /** The file stem, e.g. `train` or `train.shard-0-of-4`. */
  stem: string;
  /** Images handled so far (decoded or failed, including those kept from an earlier run). */
  done: number;
  /** Images in the job. */
  total: number;
  /** Images that failed so far. */
  failed: number;
  /** The image just handled, and why it failed if it did. */
  name: string;
  error?: string;
}

/** Options of {@linkcode buildCache}. */
export interface BuildCacheOptions {
  /** Images being decoded at once (sharp decodes in its own thread pool). @default 2 */
  concurrency?: number;
  /** Called after each image. */
  onProgress?: (event: CacheBuildProgress) => void;
}

/** What {@linkcode buildCache} did. */
export interface CacheBuildResult {
  stem: string;
  /** Images in the finished `.bin`. */
  images: number;
  /** Images that could not be decoded. */
  failed: CacheFailure[];
  /** Images kept from an interrupted earlier run. */
  resumed: number;
  /** The cache was already complete: nothing was decoded. */
  complete: boolean;
}

type Line = { ok: string } | { failed: string; reason: string };

/**
 * Builds `<outDir>/<stem>.bin` and `.json` for a job, resuming an interrupted build of the same job.
 *
 * @param imagesDir The folder of the PNGs (`<data>/images`).
 * @param outDir The cache folder (created if missing).
 * @throws {RangeError} If the job's sizes disagree or `concurrency` is not a positive integer.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * const dir = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${dir}/images`);
 * await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 90, g: 90, b: 90 } } }).png().toFile(`${dir}/images/00000001_000.png`);
 * const job = { partition: "val" as const, size: 4, names: ["00000001_000.png", "00000002_000.png"],
 *   labels: ["00000000000000", "10000000000000"], splitDigest: "d" };
 * const result = await buildCache(`${dir}/images`, `${dir}/cache`, job);
 * assert.equal(result.images, 1);
 * assert.equal(result.failed[0].name, "00000002_000.png");
 * assert.equal(Deno.statSync(`${dir}/cache/val.bin`).size, 16);
 * assert.equal((await buildCache(`${dir}/images`, `${dir}/cache`, job)).complete, true);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function buildCache(
  imagesDir: string,
  outDir: string,
  job: CacheJob,
  options: BuildCacheOptions = {},
): Promise<CacheBuildResult> {
  const concurrency = options.concurrency ?? 2;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`buildCache: concurrency must be a positive integer, got ${concurrency}`);
  }
  if (job.labels.length !== job.names.length) {
    throw new RangeError(`buildCache: ${job.labels.length} labels for ${job.names.length} names`);
  }
  const stem = cacheStem(job.partition, job.shard);
  const path = (suffix: string) => join(outDir, `${stem}${suffix}`);
  const imageBytes = job.size * job.size;
  mkdirSync(outDir, { recursive: true });

  // A kill between the two final renames leaves .bin and .json.part: finish the commit.
  if (existsSync(path(".json.part")) && existsSync(path(".bin")) && !existsSync(path(".bin.part"))) {
    renameSync(path(".json.part"), path(".json"));
  }
  const finished = completeIndex(path(".json"), path(".bin"), job);
  if (finished) return { stem, images: finished.count, failed: finished.failed, resumed: 0, complete: true };
  rmSync(path(".json"), { force: true });
  rmSync(path(".bin"), { force: true });

  const header = JSON.stringify({
    format: "cxr-cache-progress/1",
    partition: job.partition,
    size: job.size,
    splitDigest: job.splitDigest,
    shard: job.shard ?? null,
    jobDigest: createHash("sha256").update(job.names.join("\n")).update("\0").update(job.labels.join("\n"))
      .digest("hex"),
  });
  const lines = resumeLines(path(".progress"), path(".bin.part"), header, imageBytes);
  if (lines === undefined) {
    writeFileSync(path(".progress"), header + "\n");
    writeFileSync(path(".bin.part"), new Uint8Array(0));
  }
  const kept = lines ?? [];
  const names: string[] = [], labels: string[] = [], failed: CacheFailure[] = [];
  kept.forEach((line, i) => {
    if ("ok" in line) names.push(line.ok), labels.push(job.labels[i]);
    else failed.push({ name: line.failed, reason: line.reason });
  });
  const bin = openSync(path(".bin.part"), "r+");
  const log = openSync(path(".progress"), "a");
  try {
    ftruncateSync(bin, names.length * imageBytes);
    let position = names.length * imageBytes;
    const pending: Promise<Uint8Array | Error>[] = [];
    const start = kept.length;
    const launch = (i: number) => {
      pending[i] = decodeImage(join(imagesDir, job.names[i]), job.size).catch((e: Error) => e);
    };
    for (let i = start; i < Math.min(job.names.length, start + concurrency); i++) launch(i);
    for (let i = start; i < job.names.length; i++) {
      const result = await pending[i];
      delete pending[i];
      if (i + concurrency < job.names.length) launch(i + concurrency);
      const name = job.names[i];
      let error: string | undefined;
      if (result instanceof Uint8Array) {
        for (let done = 0; done < imageBytes;) {
          done += writeSync(bin, result, done, imageBytes - done, position + done);
        }
        position += imageBytes;
        names.push(name), labels.push(job.labels[i]);
        writeSync(log, JSON.stringify({ ok: name }) + "\n");
      } else {
        error = "reason" in result ? String(result.reason) : result.message;
        failed.push({ name, reason: error });
        writeSync(log, JSON.stringify({ failed: name, reason: error }) + "\n");
      }
      options.onProgress?.({
        stem,
        done: i + 1,
        total: job.names.length,
        failed: failed.length,
        name,
        error,
      });
    }
    fsyncSync(bin);
  } finally {
    closeSync(bin);
    closeSync(log);
  }
  const index = formatCacheIndex({
    format: "cxr-cache/1",
    partition: job.partition,
    size: job.size,
    count: names.length,
    classes: [...FINDINGS],
    names,
    labels,
    splitDigest: job.splitDigest,
    failed,
    shard: job.shard,
  });
  writeFileSync(path(".json.part"), index);
  renameSync(path(".bin.part"), path(".bin"));
  renameSync(path(".json.part"), path(".json"));
  rmSync(path(".progress"), { force: true });
  return { stem, images: names.length, failed, resumed: kept.length, complete: false };
}

/** The finished index when `.json` and `.bin` exist and hold exactly this job, else undefined. */
function completeIndex(jsonPath: string, binPath: string, job: CacheJob) {
  if (!existsSync(jsonPath) || !existsSync(binPath)) return undefined;
  try {
    const index = parseCacheIndex(readFileSync(jsonPath, "utf8"));
    const done = new Set([...index.names, ...index.failed.map((f) => f.name)]);
    const same = index.size === job.size && index.splitDigest === job.splitDigest &&
      index.partition === job.partition && done.size === job.names.length &&
      job.names.every((n) => done.has(n)) &&
      statSync(binPath).size === index.count * job.size * job.size;
    return same ? index : undefined;
  } catch {
    return undefined;
  }
}

/** The complete lines of an earlier run of the same job (file trimmed to them), or undefined to start over. */
function resumeLines(progressPath: string, binPath: string, header: string, imageBytes: number) {
  if (!existsSync(progressPath) || !existsSync(binPath)) return undefined;
  const text = readFileSync(progressPath, "utf8");
  const rows = text.split("\n");
  if (rows[0] !== header) return undefined;
  const lines: Line[] = [];
  const good = [header];
  for (const row of rows.slice(1, -1)) {
    try {
      lines.push(JSON.parse(row) as Line);
    } catch {
      break;
    }
    good.push(row);
  }
  const ok = lines.filter((l) => "ok" in l).length;
  const fd = openSync(binPath, "r+");
  try {
    if (fstatSync(fd).size < ok * imageBytes) return undefined;
  } finally {
    closeSync(fd);
  }
  const keptText = good.join("\n") + "\n";
  if (keptText !== text) writeFileSync(progressPath, keptText);
  return lines;
}
