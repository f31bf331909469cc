/**
 * Training-time augmentation on S×S uint8 grey images, as in the seed project: horizontal flip with p = 0.5,
 * rotation by a uniform angle in ±15°, scale uniform in 0.8–1.1, about the image centre, bilinear sampling,
 * fill 0 outside. Seeded by a deterministic PRNG, so an epoch can be replayed. Pure TypeScript: one inverse
 * affine map per output pixel into a reusable buffer.
 *
 * @module
 */
import { mulberry32 } from "../random.ts";

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/**
 * A small deterministic PRNG (mulberry32) seeded by a 32-bit integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const a = createRng(42), b = createRng(42);
 * const xs = [a(), a(), a()];
 * assert.deepEqual(xs, [b(), b(), b()]);
 * assert.ok(xs.every((x) => x >= 0 && x < 1));
 * assert.notEqual(createRng(43)(), xs[0]);
 * ```
 */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`createRng: seed must be an integer, got ${seed}`);
  return mulberry32(seed);
}

/** One concrete transform: flip (applied first), then rotation and scale about the centre. */
export interface Transform {
  /** Mirror left-right. */
  flip: boolean;
  /** Rotation in degrees, counter-clockwise as displayed (torchvision's convention). */
  angle: number;
  /** Zoom factor: > 1 enlarges the content. */
  scale: number;
}

/** Options of {@linkcode augment}. */
export interface AugmentOptions {
  /** Probability of a horizontal flip. @default 0.5 */
  flipProbability?: number;
  /** Largest rotation in degrees either way. @default 15 */
  maxRotation?: number;
  /** Range of the scale factor. @default [0.8, 1.1] */
  scale?: readonly [number, number];
  /** Output buffer of S*S bytes, reused between calls. @default a new array */
  out?: Uint8Array;
}

/**
 * Draws a transform from `rng` (three draws: flip, angle, scale).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const t = randomTransform(createRng(1));
 * assert.ok(Math.abs(t.angle) <= 15 && t.scale >= 0.8 && t.scale <= 1.1);
 * assert.deepEqual(randomTransform(createRng(1)), t);
 * ```
 */
export function randomTransform(rng: Rng, options: AugmentOptions = {}): Transform {
  const p = options.flipProbability ?? 0.5;
  const maxRotation = options.maxRotation ?? 15;
  const [lo, hi] = options.scale ?? [0.8, 1.1];
  if (!(p >= 0 && p <= 1)) throw new RangeError(`flipProbability must be in [0, 1], got ${p}`);
  if (!(maxRotation >= 0)) throw new RangeError(`maxRotation must be >= 0, got ${maxRotation}`);
  if (!(lo > 0 && hi >= lo)) {
    throw new RangeError(`scale must be [lo, hi] with 0 < lo <= hi, got [${lo}, ${hi}]`);
  }
  const flip = rng() < p;
  const angle = (rng() * 2 - 1) * maxRotation;
  const scale = lo + rng() * (hi - lo);
  return { flip, angle, scale };
}

/**
 * Applies a transform to an S×S image: each output pixel samples the input bilinearly at the inverse-mapped
 * point (0 outside). Rotation 0 and scale 1 copy exactly; flipping twice is the identity.
 *
 * @param img The S×S input pixels.
 * @param size S.
 * @param transform What to apply.
 * @param out Output buffer of S*S bytes (must not be `img`). @default a new array
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const img = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
 * assert.deepEqual([...warpImage(img, 3, { flip: true, angle: 0, scale: 1 })], [3, 2, 1, 6, 5, 4, 9, 8, 7]);
 * assert.deepEqual([...warpImage(img, 3, { flip: false, angle: 90, scale: 1 })], [3, 6, 9, 2, 5, 8, 1, 4, 7]);
 * ```
 */
export function warpImage(img: Uint8Array, size: number, transform: Transform, out?: Uint8Array): Uint8Array {
  const n = size * size;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new RangeError(`warpImage: size must be >= 1, got ${size}`);
  }
  if (img.length !== n) throw new RangeError(`warpImage: img has ${img.length} bytes, expected ${n}`);
  const target = out ?? new Uint8Array(n);
  if (target.length !== n) throw new RangeError(`warpImage: out has ${target.length} bytes, expected ${n}`);
  if (target.buffer === img.buffer && target.byteOffset === img.byteOffset) {
    throw new RangeError("warpImage: out must not be the input image");
  }
  const rad = (transform.angle * Math.PI) / 180;
  // Snap to exact values so 0/90/180/270° and scale 1 do not pick up rounding noise.
  const snap = (
    v: number,
  ) => (Math.abs(v) < 1e-12 ? 0 : Math.abs(Math.abs(v) - 1) < 1e-12 ? Math.sign(v) : v);
  const cos = snap(Math.cos(rad) / transform.scale);
  const sin = snap(Math.sin(rad) / transform.scale);
  const c = (size - 1) / 2;
  const last = size - 1;
  for (let y = 0; y < size; y++) {
    const dy = y - c;
    // Inverse of a counter-clockwise rotation (y down): source = R(-angle) * (p - c) / scale + c.
    let sx = -dy * sin + c - c * cos;
    let sy = dy * cos + c - c * sin;
    const row = y * size;
    for (let x = 0; x < size; x++, sx += cos, sy += sin) {
      const fx = transform.flip ? last - sx : sx;
      if (fx < 0 || sy < 0 || fx > last || sy > last) {
        target[row + x] = 0;
        continue;
      }
      const x0 = Math.floor(fx), y0 = Math.floor(sy);
      const x1 = x0 < last ? x0 + 1 : x0, y1 = y0 < last ? y0 + 1 : y0;
      const ax = fx - x0, ay = sy - y0;
      const top = img[y0 * size + x0]! * (1 - ax) + img[y0 * size + x1]! * ax;
      const bottom = img[y1 * size + x0]! * (1 - ax) + img[y1 * size + x1]! * ax;
      target[row + x] = top * (1 - ay) + bottom * ay + 0.5;
    }
  }
  return target;
}

/**
 * Draws a random transform from `rng` and applies it ({@linkcode randomTransform} + {@linkcode warpImage}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const img = new Uint8Array(64 * 64).map((_, i) => i % 251);
 * const out = new Uint8Array(64 * 64);
 * const a = [...augment(img, 64, createRng(7), { out })];
 * assert.deepEqual([...augment(img, 64, createRng(7), { out })], a);
 * assert.notDeepEqual(a, [...img]);
 * ```
 */
export function augment(img: Uint8Array, size: number, rng: Rng, options: AugmentOptions = {}): Uint8Array {
  return warpImage(img, size, randomTransform(rng, options), options.out);
}
