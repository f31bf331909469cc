/**
 * ROC curves: the exact points (one per distinct score, as scikit-learn's `roc_curve` with
 * `drop_intermediate=False`) and a self-contained SVG chart of one or more curves.
 *
 * @module
 */
import { escapeHtml, svgOpen } from "../display.ts";

/** One ROC curve: false and true positive rates from (0, 0) to (1, 1). */
export interface RocCurve {
  /** False positive rates, ascending. */
  fpr: number[];
  /** True positive rates. */
  tpr: number[];
}

/**
 * The ROC curve of `scores` against 0/1 `labels`: a point after each distinct score, highest first.
 *
 * @returns The curve, or `null` when the labels hold no positive or no negative.
 * @throws {RangeError} If the lengths differ.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const roc = rocCurve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])!;
 * assert.deepEqual(roc.fpr, [0, 0, 0.5, 0.5, 1]);
 * assert.deepEqual(roc.tpr, [0, 0.5, 0.5, 1, 1]);
 * assert.equal(rocCurve([0.1, 0.2], [1, 1]), null);
 * ```
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): RocCurve | null {
  if (scores.length !== labels.length) {
    throw new RangeError(`rocCurve: ${scores.length} scores but ${labels.length} labels`);
  }
  let p = 0;
  for (let i = 0; i < labels.length; i++) p += labels[i] === 1 ? 1 : 0;
  const q = labels.length - p;
  if (p === 0 || q === 0) return null;
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const fpr = [0], tpr = [0];
  let tp = 0, fp = 0;
  for (let a = 0; a < order.length;) {
    const s = scores[order[a]!];
    while (a < order.length && scores[order[a]!] === s) {
      if (labels[order[a]!] === 1) tp++;
      else fp++;
      a++;
    }
    fpr.push(fp / q);
    tpr.push(tp / p);
  }
  return { fpr, tpr };
}

/**
 * Thins a curve to at most `maxPoints` points for drawing, keeping both ends (the AUROC is computed exactly
 * elsewhere; this only keeps SVG files small).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const c = { fpr: [0, 0.1, 0.2, 0.3, 1], tpr: [0, 0.5, 0.6, 0.7, 1] };
 * assert.deepEqual(thinCurve(c, 3).fpr, [0, 0.2, 1]);
 * ```
 */
export function thinCurve(curve: RocCurve, maxPoints: number): RocCurve {
  const n = curve.fpr.length;
  if (n <= maxPoints || maxPoints < 2) return curve;
  const fpr: number[] = [], tpr: number[] = [];
  for (let k = 0; k < maxPoints; k++) {
    const i = Math.round(k * (n - 1) / (maxPoints - 1));
    fpr.push(curve.fpr[i]!);
    tpr.push(curve.tpr[i]!);
  }
  return { fpr, tpr };
}

/** Options of {@linkcode rocSvg}. */
export interface RocSvgOptions {
  /** Chart title. @default "ROC" */
  title?: string;
  /** Side of the square plot area in pixels. @default 320 */
  size?: number;
}

/** d3's category10, then four dark hues of category20b: one colour per finding. */
const PALETTE = ("#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #7f7f7f #bcbd22 #17becf " +
  "#393b79 #637939 #8c6d31 #843c39").split(" ");

/**
 * An SVG chart of ROC curves with the chance diagonal and a legend (`name (AUROC)`).
 *
 * @param curves Curves by label, e.g. `{ "Mass (0.81)": curve }`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const svg = rocSvg({ "Mass (0.75)": rocCurve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])! }, { title: "test" });
 * assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
 * assert.match(svg, /<polyline [^>]*points="/);
 * assert.match(svg, /Mass \(0.75\)/);
 * ```
 */
export function rocSvg(curves: Record<string, RocCurve>, options: RocSvgOptions = {}): string {
  const size = options.size ?? 320;
  const left = 48, top = 28, legendWidth = 200;
  const width = left + size + 16 + legendWidth, height = top + size + 44;
  const x = (v: number) => (left + v * size).toFixed(1);
  const y = (v: number) => (top + (1 - v) * size).toFixed(1);
  const parts = [
    svgOpen(width, height),
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="18" font-size="13" font-weight="bold">${escapeHtml(options.title ?? "ROC")}</text>`,
    `<rect x="${left}" y="${top}" width="${size}" height="${size}" fill="none" stroke="#444"/>`,
    `<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#aaa" stroke-dasharray="4 3"/>`,
  ];
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<text x="${x(t)}" y="${top + size + 14}" text-anchor="middle">${t}</text>`);
    parts.push(`<text x="${left - 6}" y="${Number(y(t)) + 4}" text-anchor="end">${t}</text>`);
  }
  const middle = top + size / 2;
  parts.push(
    `<text x="${left + size / 2}" y="${top + size + 32}" text-anchor="middle">false positive rate</text>`,
    `<text transform="translate(12 ${middle}) rotate(-90)" text-anchor="middle">true positive rate</text>`,
  );
  Object.entries(curves).forEach(([label, curve], i) => {
    const color = PALETTE[i % PALETTE.length];
    const c = thinCurve(curve, 400);
    const points = c.fpr.map((f, k) => `${x(f)},${y(c.tpr[k]!)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${points}"/>`);
    const lx = left + size + 16, ly = top + 8 + i * 15;
    parts.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 20}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${lx + 24}" y="${ly + 4}">${escapeHtml(label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}
