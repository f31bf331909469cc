/**
 * Shards: shard `i` of `N` is the i-th of N contiguous slices of a list, the same slice in preprocessing,
 * scoring and everything a Kubernetes Indexed Job runs (`--shard i/N`, or `env/N` to take `i` from the pod's
 * `$JOB_COMPLETION_INDEX`).
 *
 * @module
 */

/** Shard `index` (0-based) of `count`. */
export interface Shard {
  /** 0-based index, `0 <= index < count`. */
  index: number;
  /** Number of shards, at least 1. */
  count: number;
}

/** The environment variable Kubernetes Indexed Jobs set to the pod's completion index. */
export const SHARD_INDEX_VARIABLE = "JOB_COMPLETION_INDEX";

/**
 * Parses a shard spec: `i/N` (0-based), or `env/N` to take `i` from `$JOB_COMPLETION_INDEX` (Kubernetes
 * Indexed Jobs set it in every pod).
 *
 * @param text The spec, e.g. `"2/8"` or `"env/8"`.
 * @param env Where `env/N` looks up the index. @default Deno.env
 * @returns The shard.
 * @throws {RangeError} If the spec is malformed, out of range, or `env/N` finds no valid index.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseShard("2/8"), { index: 2, count: 8 });
 * assert.deepEqual(parseShard("env/4", { JOB_COMPLETION_INDEX: "3" }), { index: 3, count: 4 });
 * assert.throws(() => parseShard("4/4"), /0 <= i < N/);
 * assert.throws(() => parseShard("env/4", {}), /JOB_COMPLETION_INDEX is not set/);
 * ```
 */
export function parseShard(text: string, env?: Record<string, string | undefined>): Shard {
  const m = /^(\d+|env)\/(\d+)$/.exec(text.trim());
  if (!m) throw new RangeError(`shard must be i/N (0-based, e.g. 0/4) or env/N, got "${text}"`);
  let indexText = m[1];
  if (indexText === "env") {
    const value = env ? env[SHARD_INDEX_VARIABLE] : Deno.env.get(SHARD_INDEX_VARIABLE);
    if (value === undefined || value === "") {
      throw new RangeError(
        `shard "${text}" takes i from $${SHARD_INDEX_VARIABLE}, but ${SHARD_INDEX_VARIABLE} is not set`,
      );
    }
    if (!/^\d+$/.test(value.trim())) {
      throw new RangeError(`$${SHARD_INDEX_VARIABLE} must be a non-negative integer, got "${value}"`);
    }
    indexText = value.trim();
  }
  const shard = { index: Number(indexText), count: Number(m[2]) };
  shardRange(0, shard.index, shard.count);
  return shard;
}

/**
 * The contiguous slice `[start, end)` of `n` items that shard `index` of `count` covers.
 *
 * @throws {RangeError} Unless `0 <= index < count`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual([0, 1, 2].map((i) => shardRange(10, i, 3)), [[0, 3], [3, 6], [6, 10]]);
 * assert.throws(() => shardRange(10, 3, 3), RangeError);
 * ```
 */
export function shardRange(n: number, index: number, count: number): [number, number] {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(count) && 0 <= index && index < count)) {
    throw new RangeError(`shard must be i/N with N >= 1 and 0 <= i < N, got ${index}/${count}`);
  }
  return [Math.floor((index * n) / count), Math.floor(((index + 1) * n) / count)];
}

/**
 * The items of one shard: the contiguous slice {@linkcode shardRange} gives, of `items` as passed (sort them
 * first so every shard sees the same order); all of them without a shard.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const items = ["a", "b", "c", "d", "e"];
 * assert.deepEqual([0, 1, 2].map((index) => selectShard(items, { index, count: 3 })), [["a"], ["b", "c"], ["d", "e"]]);
 * assert.deepEqual(selectShard(items), items);
 * ```
 */
export function selectShard<T>(items: readonly T[], shard?: Shard): T[] {
  if (!shard) return [...items];
  return items.slice(...shardRange(items.length, shard.index, shard.count));
}
