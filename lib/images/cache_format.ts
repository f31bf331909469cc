/**
 * The preprocessed cache on disk (`cxr-cache/1`): per partition a `<partition>.bin` of N images of S×S uint8
 * grey pixels (row-major, image i at byte offset `i*S*S`) and a `<partition>.json` index, parsed and validated
 * here into typed values.
 *
 * @module
 */
import { FINDINGS } from "../nih/classes.ts";
import { type Partition, PARTITIONS } from "../nih/split_file.ts";
import { CxrSyntaxError } from "../errors.ts";
import { jsonErrorPosition, lineColumn } from "../json_position.ts";
import type { Shard } from "../shard.ts";

/** The `format` of cache indexes this code writes and reads. */
export const CACHE_FORMAT = "cxr-cache/1";

/** One image that could not be decoded: not in the `.bin`, listed in the index with the reason. */
export interface CacheFailure {
  /** Image name, e.g. `00000001_000.png`. */
  name: string;
  /** What went wrong, e.g. `pngload: libspng read error`. */
  reason: string;
}

/** Which slice of a partition a shard holds (shard files only; merged and unsharded files have none). */
export interface CacheShard extends Shard {
  /** First position (inclusive) in the partition's name list. */
  start: number;
  /** Last position (exclusive). */
  end: number;
}

/** `<partition>.json` as written. */
export interface CacheIndexJson {
  format: typeof CACHE_FORMAT;
  partition: Partition;
  /** Side S of the square images. */
  size: number;
  /** Images in the `.bin`. */
  count: number;
  /** The 14 class names in `FINDINGS` order. */
  classes: string[];
  /** Image names, in `.bin` order. */
  names: string[];
  /** One string of 14 `0`/`1` characters per image, in `classes` order. */
  labels: string[];
  /** The split file's digest. */
  splitDigest: string;
  /** How the split was made, when the index records it (caches from before it did not). */
  splitMethod?: string;
  /** Images that could not be decoded, in split order. */
  failed: CacheFailure[];
  /** Present in shard files only. */
  shard?: CacheShard;
}

/**
 * A cache index that does not parse or whose fields are inconsistent: `Cannot read cache index "<file>" at
 * line L, column C: <reason>`.
 */
export class CacheFormatError extends CxrSyntaxError {}

/**
 * Parses and validates a cache index: JSON syntax, format, partition, size, class names, one label string of
 * 14 `0`/`1` per name, `count` equal to the number of names.
 *
 * @param text The file's text.
 * @param options `file`: name for messages (default `"cache.json"`).
 * @throws {CacheFormatError} Naming the file, the line and column, and the field.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FINDINGS } from "../nih/classes.ts";
 * const ok = { format: "cxr-cache/1", partition: "val", size: 2, count: 1, classes: [...FINDINGS],
 *   names: ["00000001_000.png"], labels: ["00100000000001"], splitDigest: "ab", failed: [] };
 * assert.equal(parseCacheIndex(JSON.stringify(ok)).count, 1);
 * assert.throws(() => parseCacheIndex("{", { file: "val.json" }), /Cannot read cache index "val.json" at line 1/);
 * assert.throws(() => parseCacheIndex(JSON.stringify({ ...ok, count: 2 })), /count: 2 but 1 names/);
 * ```
 */
export function parseCacheIndex(text: string, options: { file?: string } = {}): CacheIndexJson {
  const file = options.file ?? "cache.json";
  const failAt = (at: { line: number; column: number }, reason: string, init?: ErrorOptions): never => {
    const message = `Cannot read cache index "${file}" at line ${at.line}, column ${at.column}: ${reason}`;
    throw new CacheFormatError(message, file, at.line, at.column, init);
  };
  const fail = (field: string, reason: string): never =>
    failAt(lineColumn(text, Math.max(text.indexOf(`"${field}"`), 0)), `${field}: ${reason}`);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return failAt(jsonErrorPosition(text), `not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) fail("(root)", "expected a JSON object");
  const found = (v: unknown) => `found ${JSON.stringify(v)?.slice(0, 60)}`;
  if (doc.format !== CACHE_FORMAT) fail("format", `expected "${CACHE_FORMAT}", ${found(doc.format)}`);
  if (!PARTITIONS.includes(doc.partition as Partition)) {
    fail("partition", `expected one of ${PARTITIONS.join(", ")}, ${found(doc.partition)}`);
  }
  if (!Number.isSafeInteger(doc.size) || (doc.size as number) < 1) {
    fail("size", `expected a positive integer, ${found(doc.size)}`);
  }
  if (!Number.isSafeInteger(doc.count) || (doc.count as number) < 0) {
    fail("count", `expected an integer >= 0, ${found(doc.count)}`);
  }
  if (!Array.isArray(doc.classes) || doc.classes.join(",") !== FINDINGS.join(",")) {
    fail("classes", `expected the 14 findings in order (${FINDINGS.join(", ")})`);
  }
  const strings = (field: string, test: (s: string) => boolean, what: string): string[] => {
    const v = doc[field];
    if (!Array.isArray(v)) return fail(field, `expected an array, ${found(v)}`);
    v.forEach((s, i) => {
      if (typeof s !== "string" || !test(s)) fail(field, `[${i}]: expected ${what}, ${found(s)}`);
    });
    return v as string[];
  };
  const names = strings("names", (s) => s.length > 0, "an image name");
  const labels = strings("labels", (s) => /^[01]{14}$/.test(s), "14 characters 0 or 1");
  if (names.length !== doc.count) fail("count", `${doc.count} but ${names.length} names`);
  if (labels.length !== names.length) fail("labels", `${labels.length} labels for ${names.length} names`);
  if (typeof doc.splitDigest !== "string") {
    fail("splitDigest", `expected a string, ${found(doc.splitDigest)}`);
  }
  if (doc.splitMethod !== undefined && typeof doc.splitMethod !== "string") {
    fail("splitMethod", `expected a string, ${found(doc.splitMethod)}`);
  }
  if (!Array.isArray(doc.failed)) fail("failed", `expected an array, ${found(doc.failed)}`);
  (doc.failed as unknown[]).forEach((f, i) => {
    const o = f as Record<string, unknown>;
    if (typeof o !== "object" || o === null || typeof o.name !== "string" || typeof o.reason !== "string") {
      fail("failed", `[${i}]: expected {"name", "reason"}, ${found(f)}`);
    }
  });
  return doc as unknown as CacheIndexJson;
}

/**
 * The file stem of a partition or of one shard of it: `train` or `train.shard-2-of-8`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(cacheStem("train"), "train");
 * assert.equal(cacheStem("test", { index: 2, count: 8 }), "test.shard-2-of-8");
 * ```
 */
export function cacheStem(partition: Partition, shard?: Shard): string {
  return shard ? `${partition}.shard-${shard.index}-of-${shard.count}` : partition;
}

/**
 * Serialises an index in the one canonical form (fixed key order, one line, final newline), so a merged
 * cache is byte for byte the cache an unsharded run writes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FINDINGS } from "../nih/classes.ts";
 * const index = { format: "cxr-cache/1" as const, partition: "test" as const, size: 2, count: 0, classes: [...FINDINGS],
 *   names: [], labels: [], splitDigest: "d", failed: [{ name: "00000001_000.png", reason: "truncated" }] };
 * const text = formatCacheIndex({ ...index, splitDigest: "d", size: 2 });
 * assert.deepEqual(parseCacheIndex(text), index);
 * assert.ok(text.startsWith('{"format":"cxr-cache/1","partition":"test","size":2,"count":0,'));
 * ```
 */
export function formatCacheIndex(index: CacheIndexJson): string {
  const ordered: CacheIndexJson = {
    format: CACHE_FORMAT,
    partition: index.partition,
    size: index.size,
    count: index.count,
    classes: index.classes,
    names: index.names,
    labels: index.labels,
    splitDigest: index.splitDigest,
    ...(index.splitMethod ? { splitMethod: index.splitMethod } : {}),
    failed: index.failed.map((f) => ({ name: f.name, reason: f.reason })),
  };
  if (index.shard) {
    const { index: i, count, start, end } = index.shard;
    ordered.shard = { index: i, count, start, end };
  }
  return JSON.stringify(ordered) + "\n";
}
