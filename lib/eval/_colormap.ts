/**
 * The colour map of the heatmaps.
 *
 * @module
 */

/**
 * The turbo colour map (Google, 2019; Mikhailov's polynomial fit) at t in 0..1, as RGB bytes: dark blue
 * through green and yellow to dark red, perceptually smoother than jet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [r0, , b0] = turbo(0.15), [r1, , b1] = turbo(0.9);
 * assert.ok(b0 > r0 && r1 > b1);
 * ```
 */
export function turbo(t: number): [number, number, number] {
  const x = Math.min(Math.max(Number.isFinite(t) ? t : 0, 0), 1);
  const x2 = x * x, x3 = x2 * x, x4 = x3 * x, x5 = x4 * x;
  const r = 0.13572138 + 4.6153926 * x - 42.66032258 * x2 + 132.13108234 * x3 - 152.94239396 * x4 +
    59.28637943 * x5;
  const g = 0.09140261 + 2.19418839 * x + 4.84296658 * x2 - 14.18503333 * x3 + 4.27729857 * x4 +
    2.82956604 * x5;
  const b = 0.1066733 + 12.64194608 * x - 60.58204836 * x2 + 110.36276771 * x3 - 89.90310912 * x4 +
    27.34824973 * x5;
  const byte = (v: number) => Math.round(Math.min(Math.max(v, 0), 1) * 255);
  return [byte(r), byte(g), byte(b)];
}

/**
 * {@linkcode turbo} at 256 levels, RGB bytes: level i at `i * 3`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual([...TURBO_LUT.subarray(255 * 3)], turbo(1));
 * ```
 */
export const TURBO_LUT: Uint8Array = (() => {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) lut.set(turbo(i / 255), i * 3);
  return lut;
})();
