/**
 * Percentile bootstrap confidence intervals for per-class and mean AUROC, seeded so a report is reproducible.
 * Each resample draws n images with replacement (the same images for every class, so the mean's interval keeps
 * the correlation between classes); the AUROC of a resample is computed in O(n) per class from a sort done
 * once, with the resample's multiplicities as weights (identical to rocAuc on the expanded sample).
 *
 * @module
 */
import { mulberry32 } from "../random.ts";
import { rocAuc } from "../auroc.ts";

/** A confidence interval `[lo, hi]`, or `null` where the AUROC is undefined. */
export type Interval = [number, number] | null;

/** Options of {@linkcode bootstrapAuroc}. */
export interface BootstrapOptions {
  /** Resamples. @default 1000 */
  resamples?: number;
  /** PRNG seed. @default 0 */
  seed?: number;
  /** Coverage of the interval. @default 0.95 */
  confidence?: number;
}

/** Per-class and mean intervals. */
export interface BootstrapResult {
  /** By class name; `null` where the full sample has no positive or no negative. */
  perClass: Record<string, Interval>;
  /** Interval of the mean over the classes defined in the full sample (and in the resample). */
  mean: Interval;
  /** The options used. */
  resamples: number;
  confidence: number;
  seed: number;
}

/**
 * Weighted Mann–Whitney AUROC over a presorted order: `order` sorts the items by ascending score, `weights`
 * are multiplicities. Ties count one half. `null` when the weighted sample lacks positives or negatives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const scores = [0.1, 0.4, 0.35, 0.8], labels = [0, 0, 1, 1];
 * const order = Uint32Array.from([0, 2, 1, 3]);
 * assert.equal(weightedAuc(order, scores, labels, new Float64Array([1, 1, 1, 1])), 0.75);
 * assert.equal(weightedAuc(order, scores, labels, new Float64Array([1, 1, 0, 0])), null);
 * ```
 */
export function weightedAuc(
  order: ArrayLike<number>,
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  weights: ArrayLike<number>,
): number | null {
  let negBelow = 0, sum = 0, pos = 0;
  for (let a = 0; a < order.length;) {
    let b = a;
    let groupPos = 0, groupNeg = 0;
    const s = scores[order[a]!];
    while (b < order.length && scores[order[b]!] === s) {
      const i = order[b]!;
      if (labels[i] === 1) groupPos += weights[i]!;
      else groupNeg += weights[i]!;
      b++;
    }
    sum += groupPos * (negBelow + 0.5 * groupNeg);
    negBelow += groupNeg;
    pos += groupPos;
    a = b;
  }
  return pos > 0 && negBelow > 0 ? sum / (pos * negBelow) : null;
}

function percentile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h), hi = Math.ceil(h);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (h - lo);
}

/**
 * Bootstrap intervals of each class's AUROC and of their mean.
 *
 * @param scores `n * classes.length` scores, row-major (image i, class k at `i * C + k`).
 * @param labels `n * classes.length` 0/1 labels, same layout.
 * @param classes Class names (`C` of them).
 * @throws {RangeError} If the layout does not fit, or an option is out of range.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const scores = [0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.2, 0.6], labels = [1, 0, 1, 0, 0, 0, 0, 0];
 * const r = bootstrapAuroc(scores, labels, ["a", "b"], { resamples: 200, seed: 1 });
 * assert.deepEqual(r.perClass.a, [1, 1]);
 * assert.equal(r.perClass.b, null); // no positive: undefined, never 1.0
 * assert.deepEqual(r.mean, [1, 1]);
 * ```
 */
export function bootstrapAuroc(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: readonly string[],
  options: BootstrapOptions = {},
): BootstrapResult {
  const resamples = options.resamples ?? 1000;
  const seed = options.seed ?? 0;
  const confidence = options.confidence ?? 0.95;
  if (!Number.isSafeInteger(resamples) || resamples < 1) {
    throw new RangeError(`bootstrapAuroc: resamples must be a positive integer, got ${resamples}`);
  }
  if (!(confidence > 0 && confidence < 1)) {
    throw new RangeError(`bootstrapAuroc: confidence must be between 0 and 1, got ${confidence}`);
  }
  const c = classes.length;
  if (c === 0 || scores.length % c !== 0 || labels.length !== scores.length) {
    throw new RangeError(
      `bootstrapAuroc: ${scores.length} scores and ${labels.length} labels do not fit ${c} classes`,
    );
  }
  const n = scores.length / c;
  const columns = classes.map((name, k) => {
    const s = new Float64Array(n), l = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = scores[i * c + k]!;
      l[i] = labels[i * c + k]!;
    }
    const defined = rocAuc(s, l) !== null;
    const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => s[a]! - s[b]!);
    return { name, s, l, order, defined, values: [] as number[] };
  });
  const means: number[] = [];
  const random = mulberry32(seed);
  const weights = new Float64Array(n);
  for (let r = 0; r < resamples; r++) {
    weights.fill(0);
    for (let j = 0; j < n; j++) weights[Math.floor(random() * n)]!++;
    let sum = 0, count = 0;
    for (const col of columns) {
      if (!col.defined) continue;
      const auc = weightedAuc(col.order, col.s, col.l, weights);
      if (auc === null) continue;
      col.values.push(auc);
      sum += auc;
      count++;
    }
    if (count > 0) means.push(sum / count);
  }
  const interval = (values: number[]): Interval => {
    if (values.length === 0) return null;
    values.sort((a, b) => a - b);
    const tail = (1 - confidence) / 2;
    return [percentile(values, tail), percentile(values, 1 - tail)];
  };
  const perClass: Record<string, Interval> = {};
  for (const col of columns) perClass[col.name] = col.defined ? interval(col.values) : null;
  return { perClass, mean: interval(means), resamples, confidence, seed };
}
