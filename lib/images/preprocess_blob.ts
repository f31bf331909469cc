/**
 * Preprocessing as one pod of a Kubernetes Indexed Job runs it: only its shard's images downloaded from the
 * images container (not all 112,120), the shard's cache built, its cache files uploaded to the models
 * container.
 *
 * @module
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadSettings, type Settings } from "../config.ts";
import { Progress } from "../progress.ts";
import { mapPool } from "../pool.ts";
import { selectShard } from "../shard.ts";
import { PARTITIONS, readSplit } from "../nih/split_file.ts";
import { connectStorage } from "../storage/mod.ts";
import { cacheStem } from "./cache_format.ts";
import { preprocess, type PreprocessOptions, type PreprocessSummary } from "./preprocess.ts";

/** Options of {@linkcode preprocessWithBlobs}: those of {@linkcode preprocess}, and where the blobs are. */
export interface PreprocessBlobOptions extends PreprocessOptions {
  /**
   * First download the images the partitions (and shard) need from the images container, blob
   * `<fromBlob>/<name>` (`""` = the container's top), into `<dataDir>/images/`, skipping files already there.
   */
  fromBlob?: string;
  /** Then upload the cache files written (`<partition>[.shard-i-of-N].{bin,json}`) to the models container
   * under this prefix. */
  toBlob?: string;
  /** Where the storage account is. @default loadSettings() */
  settings?: Settings;
}

/** What {@linkcode preprocessWithBlobs} did: the preprocessing, the downloads and the uploads. */
export interface PreprocessBlobSummary extends PreprocessSummary {
  /** With `fromBlob`: images downloaded, and those already in the images folder. */
  fetched?: { downloaded: number; skipped: number };
  /** With `toBlob`: the container and the blobs written. */
  uploaded?: { container: string; blobs: string[] };
}

function blobName(prefix: string, name: string): string {
  return prefix === "" || prefix.endsWith("/") ? `${prefix}${name}` : `${prefix}/${name}`;
}

/**
 * {@linkcode preprocess} with its images from blob storage and its cache files back to it: downloads the
 * images of the partitions built (of the shard only, with `shard`), builds the cache, uploads its files.
 * Without `fromBlob` and `toBlob` it is {@linkcode preprocess}.
 *
 * @param dataDir Folder with the label file; the images are downloaded into its `images/`.
 * @param outDir The cache folder.
 * @returns The preprocessing summary, with `fetched` and `uploaded`.
 * @throws What {@linkcode preprocess} throws; StorageErrors when a download or an upload fails.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * import { connectStorage } from "../storage/mod.ts";
 * import { synthesize } from "../nih/synth.ts";
 * import { officialSplit, readSplitList } from "../nih/split.ts";
 * import { readEntries } from "../nih/entries.ts";
 * const dir = Deno.makeTempDirSync();
 * await synthesize(`${dir}/data`, { images: 6, size: 32 });
 * const env = { CXR_AZURITE_DIR: `${dir}/azurite`, CXR_AZURITE_PORT: "0" };
 * const conn = await connectStorage(loadSettings({ env, envFile: false }), { ensureContainers: true });
 * // The function connects on its own: to the emulator this connection started.
 * const settings = loadSettings({ env: { ...env, CXR_AZURITE_PORT: String(conn.azurite!.port) }, envFile: false });
 * for (const f of Deno.readDirSync(`${dir}/data/images`)) {
 *   await conn.store.uploadFile(`${dir}/data/images/${f.name}`, { container: "nih-images", name: `png/${f.name}` });
 * }
 * Deno.removeSync(`${dir}/data/images`, { recursive: true });
 * const { split } = officialSplit(readEntries(`${dir}/data/Data_Entry_2017.csv`),
 *   readSplitList(`${dir}/data/train_val_list.txt`), readSplitList(`${dir}/data/test_list.txt`), { valFraction: 0.3 });
 * const summary = await preprocessWithBlobs(`${dir}/data`, `${dir}/cache`, {
 *   split, size: 16, partitions: ["train"], shard: { index: 0, count: 2 }, fromBlob: "png", toBlob: "cache/", settings,
 * });
 * assert.deepEqual(summary.fetched, { downloaded: summary.partitions.train!.images, skipped: 0 });
 * assert.deepEqual(summary.uploaded, {
 *   container: "models",
 *   blobs: ["cache/train.shard-0-of-2.bin", "cache/train.shard-0-of-2.json"],
 * });
 * await conn.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function preprocessWithBlobs(
  dataDir: string,
  outDir: string,
  options: PreprocessBlobOptions,
): Promise<PreprocessBlobSummary> {
  const split = typeof options.split === "string" ? readSplit(options.split) : options.split;
  const partitions = options.partitions ?? PARTITIONS;
  const settings = () => options.settings ?? loadSettings();
  let fetched: PreprocessBlobSummary["fetched"];
  if (options.fromBlob !== undefined) {
    const names = partitions.flatMap((p) => selectShard(split.images[p], options.shard));
    const dir = join(dataDir, "images");
    mkdirSync(dir, { recursive: true });
    const todo = names.filter((n) => !existsSync(join(dir, n)));
    await using conn = await connectStorage(settings());
    const container = conn.containers.images;
    const bar = new Progress({ label: `images from ${container}`, total: todo.length });
    await mapPool(todo, 4 * (options.concurrency ?? 2), async (name) => {
      await conn.store.downloadFile({ container, name: blobName(options.fromBlob!, name) }, join(dir, name));
      bar.advance();
    });
    bar.finish();
    fetched = { downloaded: todo.length, skipped: names.length - todo.length };
  }
  const summary: PreprocessBlobSummary = await preprocess(dataDir, outDir, { ...options, split, partitions });
  if (fetched) summary.fetched = fetched;
  if (options.toBlob !== undefined) {
    await using conn = await connectStorage(settings());
    const container = conn.containers.models;
    await conn.store.ensureContainer(container);
    const blobs: string[] = [];
    for (const p of partitions) {
      for (const ext of [".bin", ".json"]) {
        const file = `${cacheStem(p, options.shard)}${ext}`;
        blobs.push(blobName(options.toBlob, file));
        await conn.store.uploadFile(join(outDir, file), { container, name: blobs.at(-1)! });
      }
    }
    summary.uploaded = { container, blobs };
  }
  return summary;
}
