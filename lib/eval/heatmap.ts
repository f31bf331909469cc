/**
 * Heatmaps over X-rays: one class's map out of a batch of class activation maps, scaled to 0..1, upsampled
 * to the image's size, coloured with turbo and alpha-blended over it (NIH boxes outlined) as an RGB PNG.
 *
 * @module
 */
import sharp from "sharp";
import type { ClassActivationMaps } from "../model/mod.ts";
import { TURBO_LUT } from "./_colormap.ts";

/** A grey image: `width * height` bytes, one per pixel, row-major. */
export interface GreyImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A heat map at any resolution and scale: `width * height` values, row-major. */
export interface HeatMap {
  data: Float32Array;
  width: number;
  height: number;
}

/** A rectangle in the image's pixels (NIH `Bbox [x,y,w,h]`): left, top, width, height. */
export interface HeatmapBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Options of {@linkcode renderHeatmapPng}. */
export interface HeatmapOptions {
  /** Weight of the colour map over the X-ray, 0..1. @default 0.45 */
  alpha?: number | undefined;
  /** Boxes to outline (image pixels). @default none */
  boxes?: readonly HeatmapBox[] | undefined;
  /** Outline colour, RGB 0..255. @default [0, 255, 0] */
  boxColor?: readonly [number, number, number];
  /** Outline thickness in pixels. @default max(1, round(max(width, height) / 256)) */
  lineWidth?: number;
  /** How the map is scaled for colouring (and thresholding): see {@linkcode HEATMAP_SCALES}. @default "max" */
  scale?: HeatmapScale | undefined;
}

/**
 * One class's map of one item of a batch's class activation maps (NHWC layout).
 *
 * @param cams The batch's maps (`Prediction.cam`).
 * @param item Index of the image in the batch.
 * @param classIndex Index of the class (order of the bundle's class names).
 * @returns A `height x width` map (a copy).
 * @throws {RangeError} If `item` or `classIndex` is out of range or the data length does not fit the layout.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // 1 item, 1x2 map, 2 classes: cell (0,0) = [1, 2], cell (0,1) = [3, 4]
 * const cams = { data: new Float32Array([1, 2, 3, 4]), height: 1, width: 2, classes: 2 };
 * assert.deepEqual([...camForClass(cams, 0, 1).data], [2, 4]);
 * assert.throws(() => camForClass(cams, 1, 0), RangeError);
 * ```
 */
export function camForClass(cams: ClassActivationMaps, item: number, classIndex: number): HeatMap {
  const { height, width, classes } = cams;
  const cell = height * width * classes;
  if (!(cell > 0) || cams.data.length % cell !== 0) {
    throw new RangeError(
      `camForClass: ${cams.data.length} values do not fit maps of ${height}x${width}x${classes}`,
    );
  }
  const n = cams.data.length / cell;
  if (!Number.isSafeInteger(item) || item < 0 || item >= n) {
    throw new RangeError(`camForClass: item must be an integer 0..${n - 1}, got ${item}`);
  }
  if (!Number.isSafeInteger(classIndex) || classIndex < 0 || classIndex >= classes) {
    throw new RangeError(`camForClass: classIndex must be an integer 0..${classes - 1}, got ${classIndex}`);
  }
  const out = new Float32Array(height * width);
  const base = item * cell;
  for (let p = 0; p < height * width; p++) out[p] = cams.data[base + p * classes + classIndex]!;
  return { data: out, width, height };
}

/** Checks that `layout` is at least 1x1 and holds `width * height` values. */
function checkMap(fn: string, layout: HeatMap | GreyImage, what = "map", unit = "values", note = ""): void {
  const { data, width, height } = layout;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`${fn}: the ${what} must be at least 1x1, got ${width}x${height}`);
  }
  if (data.length !== width * height) {
    throw new RangeError(`${fn}: the ${what} has ${data.length} ${unit}, expected ${width}x${height}${note}`);
  }
}

/**
 * How a map's values become 0..1 for colouring and thresholding:
 *
 * - `"max"`: `v / max` where `v > 0`, else 0 (all zeros when no cell is positive). A CAM is a sum of signed
 *   contributions to the logit: positive cells are evidence for the finding, negative ones against it. CAM
 *   (Zhou et al. 2016) thresholds at a fraction of the *maximum* and Grad-CAM cuts negatives: 0 is "no
 *   evidence".
 * - `"minmax"`: `(v - min) / (max - min)`. On a mostly negative CAM (a sigmoid head often carries a finding's
 *   rarity in negative weights over normal anatomy) everything but the most negative cell looks hot, the
 *   empty border included.
 */
export const HEATMAP_SCALES = ["max", "minmax"] as const;
/** One way of scaling a map; see {@linkcode HEATMAP_SCALES}. */
export type HeatmapScale = typeof HEATMAP_SCALES[number];

/**
 * Scales a map to 0..1 as {@linkcode HEATMAP_SCALES} says (min-max: all zeros when the map is constant).
 * Non-finite values become 0.
 *
 * @throws {RangeError} If the map's layout is inconsistent or `scale` is unknown.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const map = { data: new Float32Array([-2, 0, 1, 2]), width: 4, height: 1 };
 * assert.deepEqual([...scaleHeatmap(map).data], [0, 0, 0.5, 1]);
 * assert.deepEqual([...scaleHeatmap(map, { scale: "minmax" }).data], [0, 0.5, 0.75, 1]);
 * const against = { data: new Float32Array([-3, -1]), width: 2, height: 1 }; // no evidence for the class
 * assert.deepEqual([...scaleHeatmap(against).data], [0, 0]);
 * ```
 */
export function scaleHeatmap(map: HeatMap, options: Pick<HeatmapOptions, "scale"> = {}): HeatMap {
  checkMap("scaleHeatmap", map);
  const scale = options.scale ?? "max";
  if (!HEATMAP_SCALES.includes(scale)) {
    throw new RangeError(`scaleHeatmap: scale must be one of ${HEATMAP_SCALES.join(", ")}, got "${scale}"`);
  }
  let lo = Infinity, hi = -Infinity;
  for (const v of map.data) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (scale === "max") lo = 0;
  const out = new Float32Array(map.data.length);
  const range = hi - lo;
  if (range > 0) {
    for (let i = 0; i < out.length; i++) {
      const v = map.data[i]!;
      out[i] = Number.isFinite(v) && v > lo ? (v - lo) / range : 0;
    }
  }
  return { data: out, width: map.width, height: map.height };
}

/**
 * Bilinear resize of a map to `width x height` with half-pixel centres (as OpenCV's `INTER_LINEAR`): output
 * pixel (x, y) samples the map at `((x + 0.5) * mapWidth / width - 0.5, ...)`, clamped to the edges.
 *
 * @throws {RangeError} If the map's layout is inconsistent or the target size is not a positive integer.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const up = upsampleHeatmap({ data: new Float32Array([0, 1]), width: 2, height: 1 }, 4, 1);
 * assert.deepEqual([...up.data], [0, 0.25, 0.75, 1]);
 * ```
 */
export function upsampleHeatmap(map: HeatMap, width: number, height: number): HeatMap {
  checkMap("upsampleHeatmap", map);
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new RangeError(`upsampleHeatmap: ${name} must be a positive integer, got ${v}`);
    }
  }
  const xs = taps(width, map.width), ys = taps(height, map.height);
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const r0 = ys.i0[y]! * map.width, r1 = ys.i1[y]! * map.width, fy = ys.f[y]!;
    for (let x = 0; x < width; x++) {
      const fx = xs.f[x]!, x0 = xs.i0[x]!, x1 = xs.i1[x]!;
      const top = map.data[r0 + x0]! * (1 - fx) + map.data[r0 + x1]! * fx;
      const bottom = map.data[r1 + x0]! * (1 - fx) + map.data[r1 + x1]! * fx;
      out[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return { data: out, width, height };
}

function taps(size: number, source: number): { i0: Int32Array; i1: Int32Array; f: Float32Array } {
  const i0 = new Int32Array(size), i1 = new Int32Array(size), f = new Float32Array(size);
  for (let d = 0; d < size; d++) {
    const s = Math.min(Math.max((d + 0.5) * source / size - 0.5, 0), source - 1);
    const lo = Math.floor(s);
    i0[d] = lo;
    i1[d] = Math.min(lo + 1, source - 1);
    f[d] = s - lo;
  }
  return { i0, i1, f };
}

/**
 * The overlay's raw RGB pixels (`width * height * 3` bytes): the map scaled ({@linkcode scaleHeatmap}),
 * upsampled to the image's size, coloured with turbo and alpha-blended over the grey X-ray; boxes outlined.
 *
 * @throws {RangeError} If the image or map layout is inconsistent, or `alpha`/`lineWidth`/`scale` is out of range.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const image = { data: new Uint8Array(16).fill(100), width: 4, height: 4 };
 * const map = { data: new Float32Array([0, 1]), width: 2, height: 1 };
 * const rgb = renderHeatmapRgb(image, map, { alpha: 0 });
 * assert.equal(rgb.length, 48);
 * assert.ok(rgb.every((v) => v === 100));
 * const boxed = renderHeatmapRgb(image, map, { alpha: 0, boxes: [{ x: 0, y: 0, w: 4, h: 4 }], lineWidth: 1 });
 * assert.deepEqual([...boxed.subarray(0, 3)], [0, 255, 0]);
 * assert.deepEqual([...boxed.subarray(5 * 3, 5 * 3 + 3)], [100, 100, 100]); // inside the outline
 * ```
 */
export function renderHeatmapRgb(image: GreyImage, map: HeatMap, options: HeatmapOptions = {}): Uint8Array {
  checkMap("renderHeatmapRgb", image, "image", "bytes", " (1 byte per pixel)");
  const { width, height } = image;
  const alpha = options.alpha ?? 0.45;
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`renderHeatmapRgb: alpha must be 0..1, got ${alpha}`);
  const lineWidth = options.lineWidth ?? Math.max(1, Math.round(Math.max(width, height) / 256));
  if (!Number.isSafeInteger(lineWidth) || lineWidth < 1) {
    throw new RangeError(`renderHeatmapRgb: lineWidth must be a positive integer, got ${lineWidth}`);
  }
  const scaled = upsampleHeatmap(scaleHeatmap(map, { scale: options.scale }), width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const k = Math.round(Math.min(Math.max(scaled[p]!, 0), 1) * 255) * 3;
    const grey = image.data[p]! * (1 - alpha);
    rgb[p * 3] = Math.round(grey + TURBO_LUT[k]! * alpha);
    rgb[p * 3 + 1] = Math.round(grey + TURBO_LUT[k + 1]! * alpha);
    rgb[p * 3 + 2] = Math.round(grey + TURBO_LUT[k + 2]! * alpha);
  }
  const color = options.boxColor ?? [0, 255, 0];
  const paint = (x: number, y: number) => {
    if (x >= 0 && y >= 0 && x < width && y < height) rgb.set(color, (y * width + x) * 3);
  };
  for (const box of options.boxes ?? []) {
    if (![box.x, box.y, box.w, box.h].every(Number.isFinite)) {
      throw new RangeError(`renderHeatmapRgb: box ${JSON.stringify(box)} has a non-finite coordinate`);
    }
    const x0 = Math.round(box.x), y0 = Math.round(box.y);
    const x1 = Math.round(box.x + box.w) - 1, y1 = Math.round(box.y + box.h) - 1;
    for (let t = 0; t < lineWidth; t++) {
      for (let x = x0; x <= x1; x++) {
        paint(x, y0 + t);
        paint(x, y1 - t);
      }
      for (let y = y0; y <= y1; y++) {
        paint(x0 + t, y);
        paint(x1 - t, y);
      }
    }
  }
  return rgb;
}

/**
 * {@linkcode renderHeatmapRgb} encoded as an RGB PNG of the image's size.
 *
 * @param image The X-ray at the size to draw (e.g. the original 1024x1024).
 * @param map A low-resolution map (e.g. 7x7), any scale.
 * @returns The PNG file's bytes.
 * @throws {RangeError} See {@linkcode renderHeatmapRgb}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * const image = { data: new Uint8Array(64 * 64).fill(128), width: 64, height: 64 };
 * const map = { data: new Float32Array([0, 0, 0, 1]), width: 2, height: 2 };
 * const png = await renderHeatmapPng(image, map, { boxes: [{ x: 8, y: 8, w: 20, h: 20 }] });
 * const meta = await sharp(png).metadata();
 * assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ["png", 64, 64, 3]);
 * ```
 */
export async function renderHeatmapPng(
  image: GreyImage,
  map: HeatMap,
  options: HeatmapOptions = {},
): Promise<Uint8Array> {
  const rgb = renderHeatmapRgb(image, map, options);
  const png = await sharp(rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/**
 * Reads an image file (or encoded bytes, or a sharp pipeline) as a {@linkcode GreyImage} at its own size (the
 * pipeline's output size); RGB(A) becomes grey.
 *
 * @throws {Error} sharp's error when the input is not an image.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * const png = await sharp({ create: { width: 3, height: 2, channels: 3, background: { r: 90, g: 90, b: 90 } } })
 *   .png().toBuffer();
 * const img = await readGreyImage(png);
 * assert.deepEqual([img.width, img.height, img.data[0]], [3, 2, 90]);
 * ```
 */
export async function readGreyImage(input: string | Uint8Array | sharp.Sharp): Promise<GreyImage> {
  const image = typeof input === "string" || input instanceof Uint8Array ? sharp(input) : input;
  const { data, info } = await image.removeAlpha().toColourspace("b-w").raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  const grey = new Uint8Array(info.width * info.height);
  for (let p = 0; p < grey.length; p++) grey[p] = data[p * info.channels]!;
  return { data: grey, width: info.width, height: info.height };
}
