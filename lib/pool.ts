/**
 * Bounded concurrency for batch work: {@linkcode mapPool}.
 *
 * @module
 */

/**
 * Calls `fn` on every item, at most `concurrency` at a time, items started in list order. The first call that
 * throws stops the pool: no further item starts, the calls in flight are awaited, then that first error is
 * thrown (so nothing runs on after the promise settles). Functions that must go on past a failed item catch it
 * themselves.
 *
 * @param items The work, in order.
 * @param concurrency Calls in flight at once (a positive integer; more than `items.length` is fine).
 * @param fn Called with each item and its index.
 * @returns The results, in the order of `items`.
 * @throws {RangeError} If `concurrency` is not a positive integer; else the first error `fn` throws.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * let running = 0, most = 0;
 * const squares = await mapPool([1, 2, 3, 4, 5], 2, async (n) => {
 *   most = Math.max(most, ++running);
 *   await new Promise((r) => setTimeout(r, 6 - n));
 *   running--;
 *   return n * n;
 * });
 * assert.deepEqual(squares, [1, 4, 9, 16, 25]);
 * assert.equal(most, 2);
 * const started: number[] = [];
 * await assert.rejects(mapPool([0, 1, 2, 3], 1, async (n) => {
 *   started.push(n);
 *   if (n === 1) throw new Error("no 1");
 * }), /no 1/);
 * assert.deepEqual(started, [0, 1]);
 * ```
 */
export async function mapPool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`mapPool: concurrency must be a positive integer, got ${concurrency}`);
  }
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i); // i < items.length
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}
