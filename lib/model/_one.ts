/**
 * The first element of a tfjs "tensor or tensors" (a layer's `inputs`, a layer's `output`).
 *
 * @throws {RangeError} for an empty list.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(one([3, 4]), 3);
 * assert.equal(one(5), 5);
 * assert.throws(() => one([]), RangeError);
 * ```
 */
export function one<T>(v: T | T[]): T {
  if (!Array.isArray(v)) return v;
  const [first] = v;
  if (first === undefined) throw new RangeError("expected a tensor, got an empty list");
  return first;
}
