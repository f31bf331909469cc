/**
 * Localisation of heatmaps against NIH's hand-drawn boxes, as in ChestX-ray8 (Wang et al. 2017, section 4.2):
 * the heatmap (at the image's size) is thresholded at a fraction of its scaled maximum (see `HEATMAP_SCALES`),
 * each 8-connected region above it becomes a bounding box B, and a ground-truth box G counts as hit at
 * threshold T when some B has IoBB = area(B ∩ G) / area(B) >= T. Accuracy is reported per finding for
 * T = 0.1 … 0.7, beside the pointing game (Zhang et al. 2016): the share of boxes holding the map's maximum.
 *
 * @module
 */
import { type HeatMap, type HeatmapBox, type HeatmapOptions, scaleHeatmap } from "./heatmap.ts";

/** The IoBB thresholds T reported by default: 0.1 to 0.7 in steps of 0.1. */
export const IOBB_THRESHOLDS: readonly number[] = Object.freeze([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]);

/**
 * Intersection over the detected box's area: `area(B ∩ G) / area(B)`; 0 for an empty B.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(iobb({ x: 0, y: 0, w: 10, h: 10 }, { x: 5, y: 0, w: 10, h: 10 }), 0.5);
 * assert.equal(iobb({ x: 2, y: 2, w: 2, h: 2 }, { x: 0, y: 0, w: 10, h: 10 }), 1); // B inside G
 * assert.equal(iobb({ x: 0, y: 0, w: 2, h: 2 }, { x: 5, y: 5, w: 1, h: 1 }), 0);
 * ```
 */
export function iobb(detected: HeatmapBox, truth: HeatmapBox): number {
  const area = detected.w * detected.h;
  if (!(area > 0)) return 0;
  const w = Math.min(detected.x + detected.w, truth.x + truth.w) - Math.max(detected.x, truth.x);
  const h = Math.min(detected.y + detected.h, truth.y + truth.h) - Math.max(detected.y, truth.y);
  return w > 0 && h > 0 ? (w * h) / area : 0;
}

/**
 * Bounding boxes (pixel units, `w`/`h` in pixels covered) of the 8-connected regions where the map, scaled as
 * `options.scale` says (see `HEATMAP_SCALES`), is at least `fraction`, largest region first.
 *
 * @throws {RangeError} If `fraction` is not in (0, 1] or `scale` is unknown.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const map = { width: 5, height: 3, data: new Float32Array([
 *   9, 9, 0, 0, 0,
 *   9, 0, 0, 0, 8,
 *   0, 0, 0, 8, 8,
 * ]) };
 * assert.deepEqual(heatmapRegions(map, 0.5), [
 *   { x: 0, y: 0, w: 2, h: 2 },
 *   { x: 3, y: 1, w: 2, h: 2 },
 * ]);
 * // Evidence against the class everywhere but in one cell: only that cell passes half the maximum.
 * const cam = { width: 3, height: 1, data: new Float32Array([-8, -1, 2]) };
 * assert.deepEqual(heatmapRegions(cam, 0.5), [{ x: 2, y: 0, w: 1, h: 1 }]);
 * assert.deepEqual(heatmapRegions(cam, 0.5, { scale: "minmax" }), [{ x: 1, y: 0, w: 2, h: 1 }]);
 * ```
 */
export function heatmapRegions(
  map: HeatMap,
  fraction: number,
  options: Pick<HeatmapOptions, "scale"> = {},
): HeatmapBox[] {
  if (!(fraction > 0 && fraction <= 1)) {
    throw new RangeError(`heatmapRegions: fraction must be in (0, 1], got ${fraction}`);
  }
  const { width, height } = map;
  const scaled = scaleHeatmap(map, { scale: options.scale }).data;
  const label = new Int32Array(width * height).fill(-1);
  const regions: (HeatmapBox & { pixels: number })[] = [];
  const stack: number[] = [];
  for (let start = 0; start < scaled.length; start++) {
    if (label[start] !== -1 || !(scaled[start]! >= fraction)) continue;
    const id = regions.length;
    let x0 = width, y0 = height, x1 = -1, y1 = -1, pixels = 0;
    label[start] = id;
    stack.push(start);
    while (stack.length > 0) {
      const p = stack.pop()!;
      const px = p % width, py = (p - px) / width;
      pixels++;
      [x0, x1, y0, y1] = [Math.min(x0, px), Math.max(x1, px), Math.min(y0, py), Math.max(y1, py)];
      for (let ny = Math.max(py - 1, 0); ny <= Math.min(py + 1, height - 1); ny++) {
        for (let nx = Math.max(px - 1, 0); nx <= Math.min(px + 1, width - 1); nx++) {
          const q = ny * width + nx;
          if (label[q] === -1 && scaled[q]! >= fraction) {
            label[q] = id;
            stack.push(q);
          }
        }
      }
    }
    regions.push({ x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1, pixels });
  }
  return regions.sort((a, b) => b.pixels - a.pixels).map(({ x, y, w, h }) => ({ x, y, w, h }));
}

/** One ground-truth box checked against a heatmap. */
export interface LocalizationResult {
  /** The box's finding and image. */
  finding: string;
  image: string;
  /** Best IoBB over the heatmap's regions. */
  bestIobb: number;
  /** `hits[i]`: bestIobb >= thresholds[i]. */
  hits: boolean[];
  /** Whether the box holds the heatmap's maximum (the centre of its first hottest pixel). */
  peakInside: boolean;
}

/** Options of {@linkcode localize}. */
export interface LocalizeOptions extends Pick<HeatmapOptions, "scale"> {
  /** Threshold as a fraction of the scaled map's maximum. @default 0.5 */
  fraction?: number | undefined;
  /** IoBB thresholds T. @default IOBB_THRESHOLDS (0.1 … 0.7) */
  thresholds?: readonly number[];
  /** Boxes of every region above the threshold (ChestX-ray8), or of the largest one only. @default "all" */
  regions?: "all" | "largest" | undefined;
}

/**
 * Checks a heatmap (already at the image's size) against one ground-truth box.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const data = new Float32Array(100);
 * for (let y = 2; y < 5; y++) for (let x = 2; x < 5; x++) data[y * 10 + x] = 1; // hot 3x3 square
 * const r = localize({ data, width: 10, height: 10 }, { x: 3, y: 2, w: 5, h: 5 }, { thresholds: [0.5, 0.7] });
 * assert.equal(r.bestIobb, 6 / 9);
 * assert.deepEqual(r.hits, [true, false]);
 * assert.equal(r.peakInside, false); // the first hottest pixel, (2, 2), is left of the box
 * data.fill(0.8, 90, 100); // a larger hot bottom row elsewhere
 * const largest = localize({ data, width: 10, height: 10 }, { x: 3, y: 2, w: 5, h: 5 }, { regions: "largest" });
 * assert.equal(largest.bestIobb, 0);
 * ```
 */
export function localize(
  map: HeatMap,
  truth: HeatmapBox & { finding?: string; image?: string },
  options: LocalizeOptions = {},
): LocalizationResult {
  const thresholds = options.thresholds ?? IOBB_THRESHOLDS;
  const all = heatmapRegions(map, options.fraction ?? 0.5, { scale: options.scale });
  const regions = options.regions === "largest" ? all.slice(0, 1) : all;
  const best = regions.reduce((m, b) => Math.max(m, iobb(b, truth)), 0);
  let peak = -1;
  for (let i = 0; i < map.data.length; i++) {
    if (Number.isFinite(map.data[i]) && (peak < 0 || map.data[i]! > map.data[peak]!)) peak = i;
  }
  const px = (peak % map.width) + 0.5, py = Math.floor(peak / map.width) + 0.5;
  return {
    finding: truth.finding ?? "",
    image: truth.image ?? "",
    bestIobb: best,
    hits: thresholds.map((t) => best >= t),
    peakInside: peak >= 0 && px >= truth.x && px <= truth.x + truth.w && py >= truth.y &&
      py <= truth.y + truth.h,
  };
}

/** Accuracy per finding and threshold. */
export interface LocalizationTable {
  /** The thresholds T, in column order. */
  thresholds: number[];
  /** By finding: boxes checked, the share hit at each T, and the share holding the heatmap's maximum. */
  perFinding: Record<string, { boxes: number; accuracy: number[]; peakInside: number }>;
}

/**
 * Aggregates results into accuracy per finding (hits / boxes) at each threshold, and the pointing share.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const t = localizationAccuracy([
 *   { finding: "Mass", image: "a", bestIobb: 0.6, hits: [true, false], peakInside: true },
 *   { finding: "Mass", image: "b", bestIobb: 0.1, hits: [false, false], peakInside: true },
 * ], [0.5, 0.7]);
 * assert.deepEqual(t.perFinding.Mass, { boxes: 2, accuracy: [0.5, 0], peakInside: 1 });
 * ```
 */
export function localizationAccuracy(
  results: readonly LocalizationResult[],
  thresholds: readonly number[] = IOBB_THRESHOLDS,
): LocalizationTable {
  const perFinding: LocalizationTable["perFinding"] = {};
  for (const r of results) {
    if (r.hits.length !== thresholds.length) {
      throw new RangeError(`localizationAccuracy: ${r.hits.length} hits for ${thresholds.length} thresholds`);
    }
    const row = perFinding[r.finding] ??= { boxes: 0, accuracy: thresholds.map(() => 0), peakInside: 0 };
    row.boxes++;
    row.accuracy = row.accuracy.map((a, i) => a + (r.hits[i] ? 1 : 0));
    row.peakInside += r.peakInside ? 1 : 0;
  }
  for (const row of Object.values(perFinding)) {
    row.accuracy = row.accuracy.map((a) => a / row.boxes);
    row.peakInside /= row.boxes;
  }
  return { thresholds: [...thresholds], perFinding };
}
