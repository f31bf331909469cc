/**
 * Preprocessing a data folder in the NIH layout into the cache: the split names the images of each partition,
 * the label file gives their labels, and {@linkcode buildCache} decodes, resizes and writes them. With a
 * shard `{ index, count }` only the index-th of `count` contiguous slices of each partition is built (one pod
 * of a Kubernetes Indexed Job); {@linkcode mergeShards} joins them afterwards.
 *
 * Images of the split that are not in `images/` (a user who fetched one archive, or has a subset) are
 * *missing*: skipped and summed up in {@linkcode PreprocessSummary.missing} (with the NIH archives that would
 * hold them, {@linkcode describeMissingImages} says it in one line), never counted as failed. *Failed* are the
 * images that are there but cannot be decoded.
 *
 * @module
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { type EntryTable, readEntries } from "../nih/entries.ts";
import { type Partition, PARTITIONS, readSplit, type Split } from "../nih/split_file.ts";
import { formatArchiveNames, formatArchiveSelection, nihArchiveOf } from "../nih/archives.ts";
import { buildCache, type CacheBuildProgress, type CacheBuildResult, folderNames } from "./build_cache.ts";
import type { CacheFailure } from "./cache_format.ts";
import { ImagesError } from "./errors.ts";
import { type Shard, shardRange } from "../shard.ts";

/** The split names images the label file does not have. */
export class MissingLabelsError extends ImagesError {
  /**
   * @param message Which split and label file, and the first names without labels.
   * @param missing The names without labels.
   */
  constructor(message: string, readonly missing: string[], options?: ErrorOptions) {
    super(message, options);
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
  shard?: Shard;
  /** Called after each image, with the partition. */
  onProgress?: (event: CacheBuildProgress & { partition: Partition }) => void;
}

/** What was done for one partition (or one shard of it). */
export interface PartitionSummary extends Pick<CacheBuildResult, "images" | "resumed" | "alreadyBuilt"> {
  /** Images present in `images/` that could not be decoded (listed in `failures` and in the index). */
  failed: number;
  /** Images of the split not in `images/`: skipped, not failures. */
  missing: number;
  /** Seconds spent. */
  seconds: number;
  /** The failed images and why. */
  failures: CacheFailure[];
}

/** The images of the split (the partitions and shard built) that are not in the images folder. */
export interface MissingImages {
  /** The folder they were looked for in (`<data>/images`). */
  imagesDir: string;
  count: number;
  /** Their names, partition by partition in split order. */
  names: string[];
  /** The NIH archives (1..12) whose name ranges hold them, ascending; empty for names outside all ranges. */
  archives: number[];
}

/** What {@linkcode preprocess} did. */
export interface PreprocessSummary {
  /** The cache folder. */
  out: string;
  /** Side of the cached images. */
  size: number;
  /** The shard built, if any. */
  shard?: Shard;
  /** Per partition built. */
  partitions: Partial<Record<Partition, PartitionSummary>>;
  /** The images of the split not in the images folder, all partitions together. */
  missing: MissingImages;
}

/**
 * One line about missing images: how many, where they were looked for, which NIH archives would hold them, and
 * the two ways on (`data fetch --only`, or `data split --present`).
 *
 * @param missing From {@linkcode PreprocessSummary.missing}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const line = describeMissingImages({ imagesDir: "data/images", count: 111_481, names: [], archives: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] });
 * assert.equal(line, '111,481 images of the split are not in "data/images" and were skipped (archives ' +
 *   "images_001..012 would hold them); run data fetch --only 1-12 to get them, or data split --present " +
 *   "data/images to split only the images present");
 * assert.equal(describeMissingImages({ imagesDir: "d", count: 0, names: [], archives: [] }), 'all images of the split are in "d"');
 * ```
 */
export function describeMissingImages(missing: MissingImages): string {
  const { imagesDir, count, archives } = missing;
  if (count === 0) return `all images of the split are in "${imagesDir}"`;
  const n = count.toLocaleString("en-US");
  const some = archives.length > 0;
  return `${n} image${count === 1 ? " of the split is" : "s of the split are"} not in "${imagesDir}" and ` +
    `${count === 1 ? "was" : "were"} skipped` +
    (some ? ` (archives ${formatArchiveNames(archives)} would hold them)` : "") +
    `; run data fetch${some ? ` --only ${formatArchiveSelection(archives)}` : ""} to get them, ` +
    `or data split --present ${imagesDir} to split only the images present`;
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
  const [best] = found;
  if (best === undefined) {
    throw new Deno.errors.NotFound(`No label file Data_Entry_2017*.csv(.gz) in "${dataDir}"`);
  }
  return join(dataDir, best);
}

/**
 * Builds the cache of each partition (or of one shard of each) from a data folder in the NIH layout.
 *
 * @param dataDir Folder with `images/` and the label file.
 * @param outDir The cache folder.
 * @returns Per partition what was cached, failed and missing; all missing images together.
 * @throws {MissingLabelsError} When the split names images the label file lacks.
 * @throws {NoImagesError} When no image of the partitions (or shard) built is in `images/` and no cache of
 *   them is there to reuse.
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
 * Deno.removeSync(`${dir}/data/images/${split.images.train[0]}`);
 * const summary = await preprocess(`${dir}/data`, `${dir}/cache`, { split, size: 16 });
 * const total = Object.values(summary.partitions).reduce((n, p) => n + p.images, 0);
 * assert.equal(total, 5);
 * assert.deepEqual(summary.missing.names, [split.images.train[0]]);
 * assert.equal(summary.partitions.train!.failed, 0);
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
  const unlabeled = partitions.flatMap((p) => split.images[p].filter((n) => !labelOf.has(n)));
  if (unlabeled.length > 0) {
    const first = unlabeled.slice(0, 5).join(", ") + (unlabeled.length > 5 ? ", ..." : "");
    const message = `${unlabeled.length} images of the split are not in "${entries.file}": ${first}`;
    throw new MissingLabelsError(message, unlabeled);
  }
  const imagesDir = join(dataDir, "images");
  const present = folderNames(imagesDir);
  const slices = partitions.map((partition) => {
    const all = split.images[partition];
    const [start, end] = options.shard
      ? shardRange(all.length, options.shard.index, options.shard.count)
      : [0, all.length];
    return { partition, start, end, names: all.slice(start, end) };
  });
  const requireImages = !slices.some((s) => s.names.some((n) => present.has(n)));
  const missing: MissingImages = { imagesDir, count: 0, names: [], archives: [] };
  const summary: PreprocessSummary = { out: outDir, size, partitions: {}, missing };
  if (options.shard) summary.shard = { ...options.shard };
  for (const { partition, start, end, names } of slices) {
    const started = performance.now();
    const result = await buildCache(imagesDir, outDir, {
      partition,
      size,
      names,
      labels: names.map((n) => labelOf.get(n)!),
      splitDigest: split.digest,
      splitMethod: split.method + (split.present ? ", present images only" : ""),
      ...(options.shard ? { shard: { ...options.shard, start, end } } : {}),
    }, {
      concurrency: options.concurrency,
      onProgress: options.onProgress && ((e) => options.onProgress!({ ...e, partition })),
      present,
      requireImages,
    });
    summary.partitions[partition] = {
      images: result.images,
      failed: result.failed.length,
      missing: result.missing.length,
      resumed: result.resumed,
      alreadyBuilt: result.alreadyBuilt,
      seconds: Math.round(performance.now() - started) / 1000,
      failures: result.failed,
    };
    for (const n of result.missing) missing.names.push(n);
  }
  missing.count = missing.names.length;
  missing.archives = [...new Set(missing.names.flatMap((n) => nihArchiveOf(n) ?? []))].sort((a, b) => a - b);
  return summary;
}
