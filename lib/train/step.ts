/**
 * One optimizer step with gradient accumulation: the batch runs through the model in micro-batches, their
 * gradients (each scaled by its share of the batch) are summed, and the optimizer applies the sum once, so a
 * batch of 16 trains on a backend that only fits 2 images at a time. {@linkcode GradientWorkers} is what
 * `trainStep` asks of a data-parallel pool (lib/train/parallel.ts starts one) to share the micro-batches.
 *
 * @module
 */
import {
  applyMovingStatistics,
  type MovingStatisticsUpdate,
  tf,
  type tfl,
  trainingForward,
} from "../model/mod.ts";
import { binaryCrossEntropy, type ClassWeights } from "./loss.ts";
import { checkBatch } from "./_gradient_protocol.ts";

/** Options of {@linkcode trainStep} and {@linkcode computeGradients}. */
export interface TrainStepOptions {
  /** Images per forward/backward pass. @default the whole batch */
  microBatch?: number | undefined;
  /** Per-class loss weights. @default none */
  weights?: ClassWeights | undefined;
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
  workers?: GradientWorkers | undefined;
}

/** What {@linkcode computeGradients} returns. */
export interface BatchGradients {
  /** The mean loss over the batch (before any update). */
  loss: number;
  /** The gradient of that loss for each variable, by variable name; the caller disposes them. */
  grads: tf.NamedTensorMap;
}

/** What {@linkcode GradientWorkers.computeGradients} returns. */
export interface ParallelGradients extends BatchGradients {
  /** The BatchNorm moving-statistics moves of every micro-batch, in batch order, not yet applied. */
  updates: MovingStatisticsUpdate[];
}

/** Data-parallel gradient workers bound to one model, as `startGradientWorkers` (lib/train/parallel.ts) starts them. */
export interface GradientWorkers extends Disposable {
  /** Threads computing gradients, this one included. */
  readonly size: number;
  /**
   * The gradients of the batch's mean loss over micro-batches split between the threads, and the moving
   * statistics moves held back; `trainStep` with `workers` applies both.
   *
   * @throws {GradientWorkerError} when a worker fails or has died; the pool is unusable afterwards.
   */
  computeGradients(
    x: tf.Tensor,
    y: tf.Tensor,
    options?: Pick<TrainStepOptions, "microBatch" | "weights" | "variables">,
  ): Promise<ParallelGradients>;
  /** Stops the workers (as disposing does). */
  close(): void;
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
 * const [kernel = "", bias] = model.trainableWeights.map((w) => (w.read() as tf.Variable).name);
 * assert.deepEqual(Object.keys(grads), [kernel, bias]);
 * const [slope = NaN] = await grads[kernel]?.data() ?? [];
 * assert.ok(loss > 0 && slope < 0); // a larger kernel fits both examples better
 * tf.dispose(Object.values(grads));
 * ```
 */
export async function computeGradients(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  options: TrainStepOptions = {},
): Promise<BatchGradients> {
  const { n, micro, total } = checkBatch(x, y, options.microBatch, options.total);
  const vars = options.variables ?? model.trainableWeights.map((w) => w.read() as tf.Variable);
  let acc: tf.NamedTensorMap | null = null;
  let loss = 0;
  for (let start = 0; start < n; start += micro) {
    const end = Math.min(n, start + micro);
    const share = (end - start) / total;
    const [xs, ys] = tf.tidy(() => [x.slice(start, end - start), y.slice(start, end - start)]);
    const { value, grads } = tf.variableGrads(
      () => tf.tidy(() => tf.mul(binaryCrossEntropy(ys, trainingForward(model, xs), options.weights), share)),
      vars,
    );
    tf.dispose([xs, ys]);
    if (acc === null) acc = grads;
    else {
      for (const [k, g] of Object.entries(grads)) {
        const prev = acc[k];
        acc[k] = prev ? tf.add(prev, g) : g;
        if (prev) tf.dispose([prev, g]);
      }
    }
    // Awaiting here lets the loader prepare the next batch while the backend works.
    loss += (await value.data())[0] ?? NaN;
    value.dispose();
  }
  return { loss, grads: acc! };
}

/**
 * Runs one training step on `x`, `y` (which the caller still owns) and returns the batch's mean loss: the
 * gradients of {@linkcode computeGradients}, applied once by the optimizer.
 *
 * @param model the model; called with `training: true` (BatchNorm uses micro-batch statistics).
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
