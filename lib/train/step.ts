/**
 * One optimizer step with gradient accumulation: the batch runs through the model in micro-batches, their
 * gradients (each scaled by its share of the batch) are summed, and the optimizer applies the sum once, so a
 * batch of 16 trains on a backend that only fits 2 images at a time.
 *
 * @module
 */
import { tf, tfl } from "../model/mod.ts";
import { applyMovingStatistics, trainingForward } from "../model/mod.ts";
import { binaryCrossEntropy, type ClassWeights } from "./loss.ts";
import type { GradientWorkers } from "./parallel.ts";

/** Options of {@linkcode trainStep} and {@linkcode computeGradients}. */
export interface TrainStepOptions {
  /** Images per forward/backward pass. @default the whole batch */
  microBatch?: number;
  /** Per-class loss weights. @default none */
  weights?: ClassWeights;
  /** The variables to train. @default the model's trainable weights */
  variables?: tf.Variable[];
  /**
   * The whole batch's size when `x` is only part of it (a data-parallel worker's micro-batches): each
   * micro-batch's loss and gradients are scaled by its share of this. @default `x`'s batch size
   */
  total?: number;
  /**
   * Workers that compute the micro-batches in parallel ({@linkcode startGradientWorkers}, bound to this model);
   * the result is that of one process running them in turn. @default this thread alone
   */
  workers?: GradientWorkers;
}

/** What {@linkcode computeGradients} returns. */
export interface BatchGradients {
  /** The mean loss over the batch (before any update). */
  loss: number;
  /** The gradient of that loss for each variable, by variable name; the caller disposes them. */
  grads: tf.NamedTensorMap;
}

/**
 * The batch size and micro-batch of `x`, `y` (lib/train/parallel.ts checks its batches the same way).
 *
 * @throws {RangeError} for a micro-batch below 1 or batches of different length.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../model/mod.ts";
 * assert.deepEqual(checkBatch(tf.zeros([4, 2]), tf.zeros([4, 14]), undefined), { n: 4, micro: 4 });
 * ```
 */
export function checkBatch(
  x: tf.Tensor,
  y: tf.Tensor,
  microBatch: number | undefined,
): { n: number; micro: number } {
  const n = x.shape[0];
  if (y.shape[0] !== n) throw new RangeError(`computeGradients: ${n} inputs but ${y.shape[0]} labels`);
  const micro = microBatch ?? n;
  if (!Number.isInteger(micro) || micro < 1) {
    throw new RangeError(`computeGradients: microBatch must be a positive integer, got ${micro}`);
  }
  return { n, micro };
}

/**
 * The gradients of the batch's mean loss, accumulated over micro-batches: each micro-batch runs through the
 * model in training mode (BatchNorm normalises with, and moves its statistics by, that micro-batch) and its
 * gradients, scaled by its share of the batch, are summed. {@linkcode trainStep} applies them.
 *
 * @param model the model; called with `training: true`.
 * @param x inputs `[B, ...]` (the caller still owns them).
 * @param y 0/1 labels `[B, C]`.
 * @param options micro-batch size, loss weights, variables.
 * @returns the mean loss and the gradients by variable name.
 * @throws {RangeError} for a micro-batch below 1 or batches of different length.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf, tfl } from "../model/mod.ts";
 * const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [1], activation: "sigmoid" })] });
 * const x = tf.tensor2d([[1], [-1]]), y = tf.tensor2d([[1], [0]]);
 * const { loss, grads } = await computeGradients(model, x, y, { microBatch: 1 });
 * const [kernel, bias] = model.trainableWeights.map((w) => (w.read() as tf.Variable).name);
 * assert.deepEqual(Object.keys(grads), [kernel, bias]);
 * assert.ok(loss > 0 && (await grads[kernel].data())[0] < 0); // a larger kernel fits both examples better
 * tf.dispose(Object.values(grads));
 * ```
 */
export async function computeGradients(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  options: TrainStepOptions = {},
): Promise<BatchGradients> {
  const { n, micro } = checkBatch(x, y, options.microBatch);
  const total = options.total ?? n;
  if (!Number.isInteger(total) || total < n) {
    throw new RangeError(`computeGradients: total must be an integer >= the ${n} inputs, got ${total}`);
  }
  const vars = options.variables ?? model.trainableWeights.map((w) => w.read() as tf.Variable);
  let acc: tf.NamedTensorMap | null = null;
  let loss = 0;
  for (let start = 0; start < n; start += micro) {
    const end = Math.min(n, start + micro);
    const share = (end - start) / total;
    const [xs, ys] = tf.tidy(() => [x.slice(start, end - start), y.slice(start, end - start)]);
    const { value, grads } = tf.variableGrads(
      () =>
        tf.tidy(() =>
          tf.mul(
            binaryCrossEntropy(ys, trainingForward(model, xs), options.weights),
            share,
          ) as tf.Scalar
        ),
      vars,
    );
    tf.dispose([xs, ys]);
    if (acc === null) acc = grads;
    else {
      for (const k of Object.keys(grads)) {
        const sum = tf.add(acc[k], grads[k]);
        tf.dispose([acc[k], grads[k]]);
        acc[k] = sum;
      }
    }
    // Awaiting here lets the loader prepare the next batch while the backend works.
    loss += (await value.data())[0];
    value.dispose();
  }
  return { loss, grads: acc! };
}

/**
 * Runs one training step on `x`, `y` (which the caller still owns) and returns the batch's mean loss: the
 * gradients of {@linkcode computeGradients}, applied once by the optimizer.
 *
 * @param model the model; called with `training: true` (BatchNorm uses micro-batch statistics).
 * @param optimizer the optimizer.
 * @param x inputs `[B, ...]`.
 * @param y 0/1 labels `[B, C]`.
 * @param options micro-batch size, loss weights, variables.
 * @returns the mean loss over the batch, before the update.
 * @throws {RangeError} for a micro-batch below 1 or batches of different length.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf, tfl } from "../model/mod.ts";
 * const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [2], activation: "sigmoid" })] });
 * const x = tf.tensor2d([[1, 0], [0, 1]]), y = tf.tensor2d([[1], [0]]);
 * const loss = await trainStep(model, tf.train.adam(0.1), x, y, { microBatch: 1 });
 * assert.ok(loss > 0);
 * ```
 */
export async function trainStep(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor,
  y: tf.Tensor,
  options: TrainStepOptions = {},
): Promise<number> {
  // With workers, the BatchNorm moves come back held, to be applied here in batch order.
  const { loss, grads, updates = [] } = options.workers
    ? await options.workers.computeGradients(x, y, options)
    : await computeGradients(model, x, y, options) as BatchGradients & { updates?: undefined };
  optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0]);
  tf.dispose(Object.values(grads));
  applyMovingStatistics(model.layers, updates);
  return loss;
}
