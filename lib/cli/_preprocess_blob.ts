/**
 * What `preprocess` needs inside a Kubernetes Indexed Job pod: only its shard's images from the images
 * container (not all 112,120), and its cache files back to the models container.
 *
 * @module
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadSettings } from "../config.ts";
import { Progress } from "../progress.ts";
import { type Partition, readSplit } from "../nih/split.ts";
import { cacheStem } from "../images/cache_format.ts";
import { shardRange } from "../images/preprocess.ts";
import { connectStorage } from "../storage/mod.ts";

type Shard = { index: number; count: number };

function blobName(prefix: string, name: string): string {
  return prefix === "" || prefix.endsWith("/") ? `${prefix}${name}` : `${prefix}/${name}`;
}

/**
 * The image names shard `shard` of each partition covers, in split order (all of them without a shard).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const split = { images: { train: ["a", "b", "c"], val: ["d"], test: ["e", "f"] } };
 * assert.deepEqual(shardImageNames(split, ["train", "test"], { index: 1, count: 2 }), ["b", "c", "f"]);
 * assert.deepEqual(shardImageNames(split, ["val"]), ["d"]);
 * ```
 */
export function shardImageNames(
  split: { images: Record<Partition, string[]> },
  partitions: readonly Partition[],
  shard?: Shard,
): string[] {
  return partitions.flatMap((p) => {
    const all = split.images[p];
    const [start, end] = shard ? shardRange(all.length, shard.index, shard.count) : [0, all.length];
    return all.slice(start, end);
  });
}

/**
 * Downloads the images of the shard from the images container (blob `PREFIX<name>`) into
 * `<dataDir>/images/`, skipping files already there.
 *
 * @example
 * ```ts ignore
 * await fetchShardImages("/work/data", "/work/data/split.json", { prefix: "", partitions: ["train"], shard: { index: 0, count: 4 } });
 * ```
 */
export async function fetchShardImages(
  dataDir: string,
  splitFile: string,
  options: { prefix: string; partitions: readonly Partition[]; shard?: Shard; concurrency?: number },
): Promise<{ downloaded: number; skipped: number }> {
  const settings = loadSettings();
  const names = shardImageNames(readSplit(splitFile), options.partitions, options.shard);
  const dir = join(dataDir, "images");
  mkdirSync(dir, { recursive: true });
  const todo = names.filter((n) => !existsSync(join(dir, n)));
  await using conn = await connectStorage(settings);
  const container = settings.storage.containers.images;
  const bar = new Progress({ label: `images from ${container}`, total: todo.length });
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const name = todo[next++];
      await conn.store.downloadFile({ container, name: blobName(options.prefix, name) }, join(dir, name));
      bar.advance();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, worker));
  bar.finish();
  return { downloaded: todo.length, skipped: names.length - todo.length };
}

/**
 * Uploads the cache files of the shard (`<partition>[.shard-i-of-N].{bin,json}`) to the models container
 * under `prefix`.
 *
 * @example
 * ```ts ignore
 * await uploadShardCache("/work/cache", { prefix: "cache/", partitions: ["train"], shard: { index: 0, count: 4 } });
 * ```
 */
export async function uploadShardCache(
  outDir: string,
  options: { prefix: string; partitions: readonly Partition[]; shard?: Shard },
): Promise<{ container: string; blobs: string[] }> {
  const settings = loadSettings();
  await using conn = await connectStorage(settings);
  const container = settings.storage.containers.models;
  await conn.store.ensureContainer(container);
  const blobs: string[] = [];
  for (const p of options.partitions) {
    for (const ext of [".bin", ".json"]) {
      const file = `${cacheStem(p, options.shard)}${ext}`;
      const name = blobName(options.prefix, file);
      await conn.store.uploadFile(join(outDir, file), { container, name });
      blobs.push(name);
    }
  }
  return { container, blobs };
}
