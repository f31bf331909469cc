/**
 * Merging shards: `<partition>.shard-i-of-N.{bin,json}` (written by N parallel preprocess runs, e.g. the pods
 * of a Kubernetes Indexed Job) concatenated into `<partition>.bin` / `.json`, byte for byte what one
 * unsharded run writes.
 *
 * @module
 */
import {
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
} from "node:fs";
import { writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Partition } from "../nih/split_file.ts";
import { type CacheIndexJson, cacheStem, formatCacheIndex, parseCacheIndex } from "./cache_format.ts";
import { CacheError } from "./cache.ts";

/** What {@linkcode mergeShards} wrote. */
export interface MergeResult {
  partition: Partition;
  /** Number of shards merged. */
  shards: number;
  /** Images in the merged `.bin`. */
  images: number;
  /** Images that failed in any shard. */
  failed: number;
}

/**
 * Concatenates the complete shards `0..N-1` of a partition into `<partition>.bin` and `.json` (written as
 * `.part` files and renamed when complete). The shard files are left in place.
 *
 * @param dir The cache folder holding the shards.
 * @param partition The partition to merge.
 * @param options `count`: the number of shards N (default: the one N found in `dir`).
 * @throws {CacheError} When a shard is missing or incomplete, the shards disagree (size, split) or do not
 *   cover the partition contiguously.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileSync } from "node:fs";
 * import { FINDINGS } from "../nih/classes.ts";
 * import { formatCacheIndex } from "./cache_format.ts";
 * const dir = Deno.makeTempDirSync();
 * for (const index of [0, 1]) {
 *   const stem = `val.shard-${index}-of-2`;
 *   writeFileSync(`${dir}/${stem}.bin`, new Uint8Array([index, index, index, index]));
 *   writeFileSync(`${dir}/${stem}.json`, formatCacheIndex({ format: "cxr-cache/1", partition: "val", size: 2, count: 1,
 *     classes: [...FINDINGS], names: [`0000000${index}_000.png`], labels: ["00000000000000"], splitDigest: "d",
 *     failed: [], shard: { index, count: 2, start: index, end: index + 1 } }));
 * }
 * assert.equal(mergeShards(dir, "val").images, 2);
 * assert.deepEqual([...Deno.readFileSync(`${dir}/val.bin`)], [0, 0, 0, 0, 1, 1, 1, 1]);
 * Deno.removeSync(`${dir}/val.shard-1-of-2.json`);
 * assert.throws(() => mergeShards(dir, "val"), /shard 1 of 2 is missing or incomplete/);
 * writeFileSync(`${dir}/val.shard-0-of-3.json`, "{}");
 * assert.throws(() => mergeShards(dir, "val"), /for several counts in .*: 2, 3; give the count/);
 * assert.throws(() => mergeShards(dir, "train"), /No shards of "train"/);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function mergeShards(
  dir: string,
  partition: Partition,
  options: { count?: number } = {},
): MergeResult {
  let count = options.count;
  if (count === undefined) {
    const re = new RegExp(`^${partition}\\.shard-\\d+-of-(\\d+)\\.json$`);
    const counts = new Set(readdirSync(dir).flatMap((n) => re.exec(n)?.[1] ?? []).map(Number));
    const found = [...counts].sort((a, b) => a - b);
    const [only] = found;
    if (only === undefined || found.length !== 1) {
      throw new CacheError(
        found.length === 0
          ? `No shards of "${partition}" in "${dir}" (expected ${partition}.shard-i-of-N.json)`
          : `Shards of "${partition}" for several counts in "${dir}": ${found.join(", ")}; give the count`,
      );
    }
    count = only;
  }
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`mergeShards: count must be a positive integer, got ${count}`);
  }
  const shards: CacheIndexJson[] = [];
  for (let i = 0; i < count; i++) {
    const stem = cacheStem(partition, { index: i, count });
    let index: CacheIndexJson;
    try {
      index = parseCacheIndex(readFileSync(join(dir, `${stem}.json`), "utf8"), { file: `${stem}.json` });
    } catch (e) {
      const message = `Cannot merge "${partition}": shard ${i} of ${count} is missing or incomplete`;
      throw new CacheError(message, { cause: e });
    }
    const previous = shards.at(-1);
    const s = index.shard;
    if (!s || s.index !== i || s.count !== count || s.start !== (previous?.shard?.end ?? 0)) {
      throw new CacheError(`Cannot merge "${partition}": ${stem}.json does not continue shard ${i - 1}`);
    }
    if (previous && (previous.size !== index.size || previous.splitDigest !== index.splitDigest)) {
      throw new CacheError(
        `Cannot merge "${partition}": ${stem}.json has size ${index.size} and split ${index.splitDigest}, ` +
          `shard 0 has ${previous.size} and ${previous.splitDigest}`,
      );
    }
    shards.push(index);
  }
  const { shard: _, ...first } = shards[0]!; // count >= 1
  const merged: CacheIndexJson = {
    ...first,
    partition,
    count: shards.reduce((n, s) => n + s.count, 0),
    names: shards.flatMap((s) => s.names),
    labels: shards.flatMap((s) => s.labels),
    failed: shards.flatMap((s) => s.failed),
  };
  const binPart = join(dir, `${partition}.bin.part`);
  const out = openSync(binPart, "w");
  const chunk = new Uint8Array(8 << 20);
  try {
    for (const [i, s] of shards.entries()) {
      const stem = cacheStem(partition, { index: i, count });
      const expected = s.count * s.size * s.size;
      const src = openSync(join(dir, `${stem}.bin`), "r");
      let copied = 0;
      try {
        for (let n; (n = readSync(src, chunk, 0, chunk.length, null)) > 0;) {
          for (let w = 0; w < n;) w += writeSync(out, chunk, w, n - w);
          copied += n;
        }
      } finally {
        closeSync(src);
      }
      if (copied !== expected) {
        const message = `Cannot merge "${partition}": ${stem}.bin has ${copied} bytes, expected ${expected}`;
        throw new CacheError(message);
      }
    }
    fsyncSync(out);
  } catch (e) {
    closeSync(out);
    rmSync(binPart, { force: true });
    throw e;
  }
  closeSync(out);
  rmSync(join(dir, `${partition}.json`), { force: true });
  writeFileSync(join(dir, `${partition}.json.part`), formatCacheIndex(merged));
  renameSync(binPart, join(dir, `${partition}.bin`));
  renameSync(join(dir, `${partition}.json.part`), join(dir, `${partition}.json`));
  return { partition, shards: count, images: merged.count, failed: merged.failed.length };
}
