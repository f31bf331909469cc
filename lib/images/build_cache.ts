/**
 * Building one cache file pair (a partition, or one shard of it) resumably: pixels are appended to
 * `<stem>.bin.part` in split order and each image is then recorded in `<stem>.progress` (a header line, then
 * one JSON line per image). A restart keeps every image recorded there, truncates the `.bin.part` to match and
 * goes on; only a complete build is renamed to `<stem>.bin` / `<stem>.json`, so a kill never leaves a
 * final-named partial cache.
 *
 * A finished cache is reused as long as every image of the job is in it or still missing (not in the images
 * folder), so deleting the PNGs after building keeps the cache, and fetching more of them rebuilds it.
 *
 * @module
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync } from "node:fs";
import { ftruncateSync, mkdirSync, readdirSync, statSync, writeFileSync, writeSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { FINDINGS } from "../nih/classes.ts";
import { formatArchiveNames, nihArchiveOf } from "../nih/archives.ts";
import type { Partition } from "../nih/split_file.ts";
import {
  CACHE_FORMAT,
  type CacheFailure,
  type CacheShard,
  cacheStem,
  formatCacheIndex,
  parseCacheIndex,
} from "./cache_format.ts";
import sharp from "sharp";
import { DecodeError, decodeImage, RESIZE_KERNEL } from "./decode.ts";
import { DicomError, dicomToGrey, parseDicom } from "./dicom.ts";
import { ImagesError } from "./errors.ts";
import { SNIFF_BYTES, sniffImageFormat, unsupportedImageReason } from "./sniff.ts";

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
  /** How the split was made (`seed`, `official`, `seed, present images only`), recorded in the index. */
  splitMethod?: string;
  /** Set when building one shard of the partition. */
  shard?: CacheShard;
}

/** None of the images of a job is in the images folder, and there is no finished cache of it to reuse. */
export class NoImagesError extends ImagesError {
  /**
   * @param message What was looked for and where.
   * @param imagesDir The images folder looked in.
   * @param missing The number of images looked for.
   */
  constructor(message: string, readonly imagesDir: string, readonly missing: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Reported after each image. */
export interface CacheBuildProgress {
  /** The file stem, e.g. `train` or `train.shard-0-of-4`. */
  stem: string;
  /** Images handled so far (decoded or failed, including those kept from an earlier run). */
  done: number;
  /** Images of the job present in the images folder (the missing ones are not counted). */
  total: number;
  /** Images that failed so far. */
  failed: number;
  /** The image just handled, and why it failed if it did. */
  name: string;
  error?: string | undefined;
}

/** Options of {@linkcode buildCache}. */
export interface BuildCacheOptions {
  /** Images being decoded at once (sharp decodes in its own thread pool). @default 2 */
  concurrency?: number | undefined;
  /** Called after each image. */
  onProgress?: ((event: CacheBuildProgress) => void) | undefined;
  /** The names of the files in the images folder, when the caller listed it already. @default listed here */
  present?: ReadonlySet<string>;
  /**
   * Throw {@linkcode NoImagesError} rather than write an empty cache when none of the job's images is present
   * (a finished cache is still reused). @default false
   */
  requireImages?: boolean;
}

/** What {@linkcode buildCache} did. */
export interface CacheBuildResult {
  stem: string;
  /** Images in the finished `.bin`. */
  images: number;
  /** Images present in the images folder that could not be decoded. */
  failed: CacheFailure[];
  /** Images of the job not in the images folder, in job order: skipped, not failures. */
  missing: string[];
  /** Images kept from an interrupted earlier run. */
  resumed: number;
  /** The cache had been built by an earlier run and was reused as it is: nothing was decoded. */
  alreadyBuilt: boolean;
}

type Line = { ok: string } | { failed: string; reason: string };

/**
 * Builds `<outDir>/<stem>.bin` and `.json` for a job, resuming an interrupted build of the same job.
 *
 * @param imagesDir The folder of the PNGs (`<data>/images`).
 * @param outDir The cache folder (created if missing).
 * @returns What was built, failed, missing and kept.
 * @throws {RangeError} If the job's sizes disagree or `concurrency` is not a positive integer.
 * @throws {NoImagesError} With `requireImages`, if no image of the job is present and no cache is reusable.
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
 * assert.deepEqual(result.missing, ["00000002_000.png"]);
 * assert.deepEqual(result.failed, []);
 * assert.equal(Deno.statSync(`${dir}/cache/val.bin`).size, 16);
 * assert.equal((await buildCache(`${dir}/images`, `${dir}/cache`, job)).alreadyBuilt, true);
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

  // A kill between the two final renames leaves .bin and .json.part: finish the commit.
  if (existsSync(path(".json.part")) && existsSync(path(".bin")) && !existsSync(path(".bin.part"))) {
    renameSync(path(".json.part"), path(".json"));
  }
  const present = options.present ?? folderNames(imagesDir);
  const finished = completeIndex(path(".json"), path(".bin"), job, present);
  if (finished) {
    const cached = new Set(finished.names);
    return {
      stem,
      images: finished.count,
      // A cache written before missing images were told apart lists them as failed: they are missing.
      failed: finished.failed.filter((f) => present.has(f.name)),
      missing: job.names.filter((n) => !cached.has(n) && !present.has(n)),
      resumed: 0,
      alreadyBuilt: true,
    };
  }
  const missing: string[] = [];
  const todo: { names: string[]; labels: string[] } = { names: [], labels: [] };
  job.names.forEach((n, i) => {
    if (present.has(n)) todo.names.push(n), todo.labels.push(job.labels[i]!); // as many labels as names (checked)
    else missing.push(n);
  });
  if (options.requireImages && todo.names.length === 0 && job.names.length > 0) {
    const archives = formatArchiveNames(job.names.flatMap((n) => nihArchiveOf(n) ?? []));
    throw new NoImagesError(
      `Cannot build the cache of "${stem}": none of its ${job.names.length} images is in "${imagesDir}"` +
        (archives ? ` (archives ${archives} would hold them)` : "") +
        "; run data fetch, or data split --present to split only the images you have",
      imagesDir,
      job.names.length,
    );
  }
  mkdirSync(outDir, { recursive: true });
  rmSync(path(".json"), { force: true });
  rmSync(path(".bin"), { force: true });

  const header = JSON.stringify({
    format: "cxr-cache-progress/1",
    partition: job.partition,
    size: job.size,
    splitDigest: job.splitDigest,
    shard: job.shard ?? null,
    jobDigest: createHash("sha256").update(todo.names.join("\n")).update("\0").update(todo.labels.join("\n"))
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
    if ("ok" in line) names.push(line.ok), labels.push(todo.labels[i]!); // kept lines are of this job (digest)
    else failed.push({ name: line.failed, reason: line.reason });
  });
  const bin = openSync(path(".bin.part"), "r+");
  const log = openSync(path(".progress"), "a");
  try {
    ftruncateSync(bin, names.length * imageBytes);
    let position = names.length * imageBytes;
    const pending: Promise<Uint8Array | Error>[] = [];
    const start = kept.length, total = todo.names.length;
    const launch = (i: number) => {
      pending[i] = decodeCacheImage(join(imagesDir, todo.names[i]!), job.size).catch((e: Error) => e);
    };
    for (let i = start; i < Math.min(total, start + concurrency); i++) launch(i);
    for (let i = start; i < total; i++) {
      const result = (await pending[i])!; // launched above, in order
      delete pending[i];
      if (i + concurrency < total) launch(i + concurrency);
      const name = todo.names[i]!;
      let error: string | undefined;
      if (result instanceof Uint8Array) {
        for (let done = 0; done < imageBytes;) {
          done += writeSync(bin, result, done, imageBytes - done, position + done);
        }
        position += imageBytes;
        names.push(name), labels.push(todo.labels[i]!);
        writeSync(log, JSON.stringify({ ok: name }) + "\n");
      } else {
        error = "reason" in result ? String(result.reason) : result.message;
        failed.push({ name, reason: error });
        writeSync(log, JSON.stringify({ failed: name, reason: error }) + "\n");
      }
      options.onProgress?.({ stem, done: i + 1, total, failed: failed.length, name, error });
    }
    fsyncSync(bin);
  } finally {
    closeSync(bin);
    closeSync(log);
  }
  // From the job: partition, size, split digest and method, shard (formatCacheIndex takes only index fields).
  const built = { count: names.length, classes: [...FINDINGS], names, labels, failed };
  writeFileSync(path(".json.part"), formatCacheIndex({ ...job, format: CACHE_FORMAT, ...built }));
  renameSync(path(".bin.part"), path(".bin"));
  renameSync(path(".json.part"), path(".json"));
  rmSync(path(".progress"), { force: true });
  return { stem, images: names.length, failed, missing, resumed: kept.length, alreadyBuilt: false };
}

/**
 * One image of a cache build as S×S grey pixels, decoded by what its first bytes are (as the scoring service
 * does): PNG and JPEG through {@linkcode decodeImage}, DICOM through `parseDicom` and the same Lanczos-3
 * resize; anything else (an SVG or GIF named `.png`) fails with a {@linkcode DecodeError}, whatever its name.
 */
async function decodeCacheImage(path: string, size: number): Promise<Uint8Array> {
  let head: Uint8Array;
  try {
    using file = await Deno.open(path);
    head = new Uint8Array(SNIFF_BYTES);
    let got = 0;
    for (let n: number | null = 0; n !== null && got < head.length; got += n ?? 0) {
      n = await file.read(head.subarray(got));
    }
    head = head.subarray(0, got);
  } catch (e) {
    throw new DecodeError((e as Error).message, path, { cause: e });
  }
  const format = sniffImageFormat(head);
  if (format === undefined) throw new DecodeError(unsupportedImageReason(head), path);
  if (format !== "dicom") return await decodeImage(path, size);
  let grey;
  try {
    grey = dicomToGrey(await parseDicom(await Deno.readFile(path)));
  } catch (e) {
    if (!(e instanceof DicomError)) throw e;
    throw new DecodeError(e.message, path, { cause: e });
  }
  const { data, info } = await sharp(grey.data, {
    raw: { width: grey.width, height: grey.height, channels: 1 },
    limitInputPixels: false,
  })
    .resize(size, size, { fit: "fill", kernel: RESIZE_KERNEL })
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(size * size);
  for (let p = 0; p < out.length; p++) out[p] = data[p * info.channels]!;
  return out;
}

/**
 * The names of the entries in a folder, read once (112,120 names in about a tenth of a second); an empty set if
 * the folder does not exist.
 *
 * @param dir The folder, e.g. `<data>/images`.
 * @throws {Error} If the folder exists but cannot be read.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/00000001_000.png`, "");
 * assert.deepEqual(folderNames(dir), new Set(["00000001_000.png"]));
 * assert.equal(folderNames(`${dir}/none`).size, 0);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function folderNames(dir: string): Set<string> {
  try {
    return new Set(readdirSync(dir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return new Set();
    throw e;
  }
}

/**
 * The finished index when `.json` and `.bin` exist and were built for this job: same size, split and
 * partition, every image in the index one of the job's, and every image of the job in the index or missing
 * now. Else undefined.
 */
function completeIndex(jsonPath: string, binPath: string, job: CacheJob, present: ReadonlySet<string>) {
  if (!existsSync(jsonPath) || !existsSync(binPath)) return undefined;
  try {
    const index = parseCacheIndex(readFileSync(jsonPath, "utf8"));
    const done = new Set([...index.names, ...index.failed.map((f) => f.name)]);
    const names = new Set(job.names);
    const same = index.size === job.size && index.splitDigest === job.splitDigest &&
      index.partition === job.partition && [...done].every((n) => names.has(n)) &&
      job.names.every((n) => done.has(n) || !present.has(n)) &&
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
  if (statSync(binPath).size < ok * imageBytes) return undefined;
  const keptText = good.join("\n") + "\n";
  if (keptText !== text) writeFileSync(progressPath, keptText);
  return lines;
}
