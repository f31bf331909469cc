/**
 * Binary cross-entropy for multi-label outputs, optionally weighted per class as in CheXNet.
 *
 * @module
 */
import { tf } from "../model/mod.ts";

/** Per-class weights of the positive and the negative term. */
export interface ClassWeights {
  /** w+ per class: the fraction of negatives, N-/N. */
  positive: Float32Array;
  /** w- per class: the fraction of positives, N+/N. */
  negative: Float32Array;
}

/** Probabilities are clipped to [EPSILON, 1 - EPSILON] before the logarithm (as Keras does). */
export const BCE_EPSILON = 1e-7;

/**
 * CheXNet's class weights from a partition's labels: w+ = N-/N and w- = N+/N per class, so rare positives
 * weigh as much in total as the common negatives.
 *
 * @param labels `count × classes` 0/1 labels, row-major.
 * @param classes the number of classes.
 * @returns the weights.
 * @throws {RangeError} when the labels are empty or do not fit `classes`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const w = classWeights(new Uint8Array([1, 0, 0, 0, 0, 1, 0, 1]), 2);
 * assert.deepEqual([...w.positive], [0.75, 0.5]);
 * assert.deepEqual([...w.negative], [0.25, 0.5]);
 * ```
 */
export function classWeights(labels: ArrayLike<number>, classes: number): ClassWeights {
  if (!Number.isInteger(classes) || classes < 1) {
    throw new RangeError(`classWeights: classes must be a positive integer, got ${classes}`);
  }
  if (labels.length === 0 || labels.length % classes !== 0) {
    throw new RangeError(`classWeights: ${labels.length} labels do not fit ${classes} classes`);
  }
  const n = labels.length / classes;
  const positive = new Float32Array(classes);
  const negative = new Float32Array(classes);
  for (let k = 0; k < classes; k++) {
    let p = 0;
    for (let i = 0; i < n; i++) p += labels[i * classes + k]!;
    positive[k] = (n - p) / n;
    negative[k] = p / n;
  }
  return { positive, negative };
}

/**
 * Mean binary cross-entropy over every example and class; with `weights`, the positive term of class k is
 * multiplied by `positive[k]` and the negative term by `negative[k]`.
 *
 * @param yTrue 0/1 labels `[B, C]`.
 * @param yPred probabilities `[B, C]`.
 * @param weights per-class weights, or none for the plain loss.
 * @returns a scalar tensor (the caller disposes it, or calls this inside `tf.tidy`).
 * @throws {RangeError} when the shapes differ or the weights do not have C entries.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../model/mod.ts";
 * const loss = binaryCrossEntropy(tf.tensor2d([[1, 0]]), tf.tensor2d([[0.5, 0.5]]));
 * assert.ok(Math.abs((await loss.array() as number) - Math.LN2) < 1e-6);
 * ```
 */
export function binaryCrossEntropy(yTrue: tf.Tensor, yPred: tf.Tensor, weights?: ClassWeights): tf.Scalar {
  if (yTrue.shape.join(",") !== yPred.shape.join(",")) {
    throw new RangeError(
      `binaryCrossEntropy: labels [${yTrue.shape}] and predictions [${yPred.shape}] differ in shape`,
    );
  }
  const classes = yPred.shape[yPred.shape.length - 1]!;
  if (weights && (weights.positive.length !== classes || weights.negative.length !== classes)) {
    throw new RangeError(
      `binaryCrossEntropy: weights for ${weights.positive.length} classes, predictions have ${classes}`,
    );
  }
  return tf.tidy(() => {
    const p = tf.clipByValue(yPred, BCE_EPSILON, 1 - BCE_EPSILON);
    let pos = tf.mul(yTrue, tf.log(p));
    let neg = tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p)));
    if (weights) {
      pos = tf.mul(pos, tf.tensor1d(weights.positive));
      neg = tf.mul(neg, tf.tensor1d(weights.negative));
    }
    return tf.neg(tf.mean(tf.add(pos, neg))) as tf.Scalar;
  });
}
