/**
 * Preprocessing a data folder in the NIH layout into the cache: the split names the images of each partition,
 * the label file gives their labels, and {@linkcode buildCache} decodes, resizes and writes them. With a
 * shard `{ index, count }` only the index-th of `count` contiguous slices of each partition is built (one pod
 * of a Kubernetes Indexed Job); {@linkcode mergeShards} joins them afterwards.
 *
 * @module
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { type EntryTable, readEntries } from "../nih/entries.ts";
import { type Partition, PARTITIONS, readSplit, type Split } from "../nih/split.ts";
import { buildCache, type CacheBuildProgress } from "./build_cache.ts";
import type { CacheFailure } from "./cache_format.ts";

/** The split names images the label file does not have. */
export class MissingLabelsError extends Error {
  /** The names without labels. */
  missing: string[];
  constructor(message: string, missing: string[]) {
    super(message);
    this.name = "MissingLabelsError";
    this.missing = missing;
  }
}

/** Options of {@linkcode preprocess}. */
export interface PreprocessOptions {
  /** The split: an object or the path of a `cxr-split/1` file. */
  split: Split | string;
  /** The label file (parsed, or a path). @default the `Data_Entry_2017*.csv(.gz)` found in the data folder */
  entries?: EntryTable | string;
  /** Partitions to build. @default ["train", "val", "test"] */
  partitions?: readonly Partition[];
  /** Side of the output images. @default 224 */
  size?: number;
  /** Images decoded at once. @default 2 */
  concurrency?: number;
  /** Build only this contiguous slice of each partition (`index` 0-based). */
  shard?: { index: number; count: number };
  /** Called after each image, with the partition. */
  onProgress?: (event: CacheBuildProgress & { partition: Partition }) => void;
}

/** Per partition: images written, failures, images kept from an interrupted run, seconds spent. */
export interface PartitionSummary {
  images: number;
  failed: number;
  resumed: number;
  /** The cache was already complete. */
  complete: boolean;
  seconds: number;
  /** The failed images and why. */
  failures: CacheFailure[];
}

/** What {@linkcode preprocess} did. */
export interface PreprocessSummary {
  out: string;
  size: number;
  shard?: { index: number; count: number };
  partitions: Partial<Record<Partition, PartitionSummary>>;
}

/**
 * The label file in a data folder: `Data_Entry_2017*.csv` or `.csv.gz`, preferring the v2020 revision, then
 * the plain name; excerpts last.
 *
 * @throws {Deno.errors.NotFound} When there is none.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * for (const f of ["Data_Entry_2017_excerpt.csv", "Data_Entry_2017_v2020.csv.gz", "x.csv"]) Deno.writeTextFileSync(`${dir}/${f}`, "");
 * assert.equal(findEntriesFile(dir), `${dir}/Data_Entry_2017_v2020.csv.gz`);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function findEntriesFile(dataDir: string): string {
  const rank = (n: string) =>
    /v2020/.test(n) ? 0 : /^Data_Entry_2017\.csv(\.gz)?$/.test(n) ? 1 : /excerpt/.test(n) ? 3 : 2;
  const found = readdirSync(dataDir)
    .filter((n) => /^Data_Entry_2017.*\.csv(\.gz)?$/.test(n))
    .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : 1));
  if (found.length === 0) {
    throw new Deno.errors.NotFound(`No label file Data_Entry_2017*.csv(.gz) in "${dataDir}"`);
  }
  return join(dataDir, found[0]);
}

/**
 * The contiguous slice `[start, end)` of `n` items that shard `index` of `count` covers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual([0, 1, 2].map((i) => shardRange(10, i, 3)), [[0, 3], [3, 6], [6, 10]]);
 * assert.throws(() => shardRange(10, 3, 3), RangeError);
 * ```
 */
export function shardRange(n: number, index: number, count: number): [number, number] {
  if (
    !Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(index) || index < 0 || index >= count
  ) {
    throw new RangeError(`shard must be i/N with N >= 1 and 0 <= i < N, got ${index}/${count}`);
  }
  return [Math.floor((index * n) / count), Math.floor(((index + 1) * n) / count)];
}

/**
 * Builds the cache of each partition (or of one shard of each) from a data folder in the NIH layout.
 *
 * @param dataDir Folder with `images/` and the label file.
 * @param outDir The cache folder.
 * @throws {MissingLabelsError} When the split names images the label file lacks.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { synthesize } from "../nih/synth.ts";
 * import { officialSplit, readSplitList } from "../nih/split.ts";
 * import { readEntries } from "../nih/entries.ts";
 * const dir = Deno.makeTempDirSync();
 * await synthesize(`${dir}/data`, { images: 6, size: 32 });
 * const entries = readEntries(`${dir}/data/Data_Entry_2017.csv`);
 * const { split } = officialSplit(entries, readSplitList(`${dir}/data/train_val_list.txt`),
 *   readSplitList(`${dir}/data/test_list.txt`), { valFraction: 0.3 });
 * const summary = await preprocess(`${dir}/data`, `${dir}/cache`, { split, size: 16 });
 * const total = Object.values(summary.partitions).reduce((n, p) => n + p.images, 0);
 * assert.equal(total, 6);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function preprocess(
  dataDir: string,
  outDir: string,
  options: PreprocessOptions,
): Promise<PreprocessSummary> {
  const size = options.size ?? 224;
  if (!Number.isSafeInteger(size) || size < 1 || size > 16384) {
    throw new RangeError(`preprocess: size must be an integer 1..16384, got ${size}`);
  }
  const split = typeof options.split === "string" ? readSplit(options.split) : options.split;
  const entries = typeof options.entries === "object"
    ? options.entries
    : readEntries(options.entries ?? findEntriesFile(dataDir));
  const labelOf = new Map(entries.entries.map((e) => [e.image, e.labels.join("")]));
  const partitions = options.partitions ?? PARTITIONS;
  const missing = partitions.flatMap((p) => split.images[p].filter((n) => !labelOf.has(n)));
  if (missing.length > 0) {
    throw new MissingLabelsError(
      `${missing.length} images of the split are not in "${entries.file}": ${
        missing.slice(0, 5).join(", ")
      }` +
        (missing.length > 5 ? ", ..." : ""),
      missing,
    );
  }
  const summary: PreprocessSummary = { out: outDir, size, partitions: {} };
  if (options.shard) summary.shard = { ...options.shard };
  for (const partition of partitions) {
    const all = split.images[partition];
    const [start, end] = options.shard
      ? shardRange(all.length, options.shard.index, options.shard.count)
      : [0, all.length];
    const names = all.slice(start, end);
    const started = performance.now();
    const result = await buildCache(join(dataDir, "images"), outDir, {
      partition,
      size,
      names,
      labels: names.map((n) => labelOf.get(n)!),
      splitDigest: split.digest,
      shard: options.shard ? { ...options.shard, start, end } : undefined,
    }, {
      concurrency: options.concurrency,
      onProgress: options.onProgress && ((e) => options.onProgress!({ ...e, partition })),
    });
    summary.partitions[partition] = {
      images: result.images,
      failed: result.failed.length,
      resumed: result.resumed,
      complete: result.complete,
      seconds: Math.round(performance.now() - started) / 1000,
      failures: result.failed,
    };
  }
  return summary;
}
