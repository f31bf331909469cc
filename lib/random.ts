/**
 * Seeded pseudo-random numbers shared by every step that must be reproducible (synthetic data, augmentation,
 * the training loader's shuffles). Not for anything secret.
 *
 * @module
 */

/**
 * A seeded 32-bit PRNG (mulberry32) returning floats in [0, 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const a = mulberry32(7), b = mulberry32(7);
 * assert.equal(a(), b());
 * assert.ok(a() >= 0 && a() < 1);
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Mixes integers into one 32-bit seed (a murmur3 finaliser per part), so that e.g. (seed, epoch, batch) each get
 * an independent stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(mixSeed(1, 2), mixSeed(1, 2));
 * assert.notEqual(mixSeed(1, 2), mixSeed(2, 1));
 * ```
 */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}
