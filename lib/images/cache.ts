/**
 * Reading the preprocessed cache (`cxr-cache/1`): {@linkcode openCache} validates `<partition>.json` and the
 * size of `<partition>.bin`, then serves images by positioned reads on one open file, so a partition never has
 * to fit in memory (all of NIH at 224² is 5.6 GB).
 *
 * @module
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import { type Partition, PARTITIONS } from "../nih/split_file.ts";
import { type CacheIndexJson, parseCacheIndex } from "./cache_format.ts";
import { ImagesError } from "./errors.ts";

/** A cache that is missing or whose `.bin` does not match its index. */
export class CacheError extends ImagesError {}

/** An open partition: its index, labels as bytes. Close it (or `using`) to release the file. */
export interface ImageCache
  extends Disposable, Omit<CacheIndexJson, "format" | "labels" | "splitMethod" | "shard"> {
  /** Multi-hot labels, `count * classes.length` bytes, image i at `i * 14`. */
  labels: Uint8Array;
  splitMethod?: string | undefined;
  /** Reads image i (S*S bytes, a fresh copy unless `into` is given). */
  read(i: number, into?: Uint8Array): Uint8Array;
  /** Reads the images at `indices` one after another into one array (`indices.length * S*S` bytes). */
  readBatch(indices: ArrayLike<number>, into?: Uint8Array): Uint8Array;
  /** Closes the file. */
  close(): void;
}

/**
 * Opens `<dir>/<partition>.json` and `<dir>/<partition>.bin`.
 *
 * @param dir The cache folder.
 * @param partition `train`, `val` or `test` (or a shard stem such as `train.shard-0-of-4`).
 * @throws {CacheError} When a file is missing or the `.bin` size is not `count * S * S`.
 * @throws {CacheFormatError} When the index does not parse.
 * @throws {RangeError} From `read`/`readBatch` for an index outside 0..count-1 or a wrong-sized `into`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileSync } from "node:fs";
 * import { FINDINGS } from "../nih/classes.ts";
 * const dir = Deno.makeTempDirSync();
 * writeFileSync(`${dir}/val.bin`, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
 * writeFileSync(`${dir}/val.json`, JSON.stringify({ format: "cxr-cache/1", partition: "val", size: 2, count: 2,
 *   classes: FINDINGS, names: ["00000001_000.png", "00000002_000.png"], labels: ["10000000000000", "00000000000001"],
 *   splitDigest: "d", failed: [] }));
 * using cache = openCache(dir, "val");
 * assert.deepEqual([...cache.read(1)], [5, 6, 7, 8]);
 * assert.deepEqual([...cache.readBatch([1, 0])], [5, 6, 7, 8, 1, 2, 3, 4]);
 * assert.equal(cache.labels[14 + 13], 1);
 * assert.throws(() => cache.read(2), RangeError);
 * cache.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function openCache(dir: string, partition: Partition | string): ImageCache {
  const jsonPath = join(dir, `${partition}.json`);
  const binPath = join(dir, `${partition}.bin`);
  let text: string;
  try {
    text = readFileSync(jsonPath, "utf8");
  } catch (e) {
    throw new CacheError(
      `Cannot open cache "${partition}" in "${dir}": ${partition}.json is missing or unreadable ` +
        `(partitions: ${PARTITIONS.join(", ")}; build with \`deno task cxr preprocess\`)`,
      { cause: e },
    );
  }
  const index = parseCacheIndex(text, { file: `${partition}.json` });
  const imageBytes = index.size * index.size;
  let fd: number;
  try {
    fd = openSync(binPath, "r");
  } catch (e) {
    const message = `Cannot open cache "${partition}" in "${dir}": ${partition}.bin is missing`;
    throw new CacheError(message, { cause: e });
  }
  const bytes = fstatSync(fd).size;
  if (bytes !== index.count * imageBytes) {
    closeSync(fd);
    throw new CacheError(
      `Cache "${binPath}" has ${bytes} bytes but its index promises ${index.count} images of ` +
        `${index.size}x${index.size} = ${index.count * imageBytes} bytes (incomplete or from another build)`,
    );
  }
  const labels = new Uint8Array(index.count * index.classes.length);
  index.labels.forEach((s, i) => {
    for (let c = 0; c < s.length; c++) labels[i * s.length + c] = s.charCodeAt(c) === 49 ? 1 : 0;
  });
  let open = true;
  const check = (i: number) => {
    if (!open) throw new CacheError(`Cache "${binPath}" is closed`);
    if (!Number.isSafeInteger(i) || i < 0 || i >= index.count) {
      throw new RangeError(`Image index ${i} out of range 0..${index.count - 1} in "${binPath}"`);
    }
  };
  const readInto = (i: number, target: Uint8Array, offset: number) => {
    check(i);
    let done = 0;
    while (done < imageBytes) {
      const n = readSync(fd, target, offset + done, imageBytes - done, i * imageBytes + done);
      if (n === 0) throw new CacheError(`Cache "${binPath}" ended early at image ${i}`);
      done += n;
    }
  };
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    partition: index.partition,
    size: index.size,
    count: index.count,
    names: index.names,
    labels,
    classes: index.classes,
    splitDigest: index.splitDigest,
    splitMethod: index.splitMethod,
    failed: index.failed,
    read(i, into) {
      if (into && into.length !== imageBytes) {
        throw new RangeError(`read: into has ${into.length} bytes, expected ${imageBytes}`);
      }
      const target = into ?? new Uint8Array(imageBytes);
      readInto(i, target, 0);
      return target;
    },
    readBatch(indices, into) {
      const need = indices.length * imageBytes;
      if (into && into.length < need) {
        const message = `readBatch: into has ${into.length} bytes, need ${need} for ${indices.length} images`;
        throw new RangeError(message);
      }
      const target = into ?? new Uint8Array(need);
      for (let k = 0; k < indices.length; k++) readInto(indices[k]!, target, k * imageBytes);
      return target;
    },
    close,
    [Symbol.dispose]: close,
  };
}
