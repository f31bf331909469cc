/**
 * What lib/train/step.ts, the gradient pool (parallel.ts) and its workers (_gradient_worker.ts) share: the
 * batch check, the messages between the pool and a worker, and the tests' fault injection (a worker that dies).
 *
 * @module
 */
import type { BackendName, MovingStatisticsUpdate, tf } from "../model/mod.ts";
import type { ClassWeights } from "./loss.ts";

/**
 * The batch size, micro-batch and whole batch's size (`total`, when `x` is a worker's share of it) of `x`, `y`
 * (`computeGradients`, the onnx engine and the gradient pool check their batches alike).
 *
 * @throws {RangeError} for a micro-batch below 1, batches of different length or a `total` below the batch.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../model/mod.ts";
 * assert.deepEqual(checkBatch(tf.zeros([4, 2]), tf.zeros([4, 14]), undefined), { n: 4, micro: 4, total: 4 });
 * ```
 */
export function checkBatch(
  x: tf.Tensor,
  y: tf.Tensor,
  microBatch: number | undefined,
  total?: number,
): { n: number; micro: number; total: number } {
  const n = x.shape[0];
  if (y.shape[0] !== n) throw new RangeError(`computeGradients: ${n} inputs but ${y.shape[0]} labels`);
  const micro = microBatch ?? n;
  if (!Number.isInteger(micro) || micro < 1) {
    throw new RangeError(`computeGradients: microBatch must be a positive integer, got ${micro}`);
  }
  total ??= n;
  if (!Number.isInteger(total) || total < n) {
    throw new RangeError(`computeGradients: total must be an integer >= the ${n} inputs, got ${total}`);
  }
  return { n, micro, total };
}

/** What the coordinator asks. */
export type WorkerRequest =
  | {
    type: "init";
    backend: BackendName;
    topology: unknown;
    trainable: boolean[];
    /** Each weight of the model, in order: its name, shape and offset (in floats) in the shared buffers. */
    layout: { name: string; shape: number[]; offset: number }[];
    weightBuffer: SharedArrayBuffer;
    gradBuffer: SharedArrayBuffer;
    /** Compute on ONNX Runtime (lib/train/onnx_gradients.ts) with these settings instead of the tfjs backend. */
    onnx?: { threads: number; provider: "cpu" | "cuda"; deviceId: number } | undefined;
  }
  | {
    type: "step";
    x: Float32Array;
    xShape: number[];
    y: Float32Array;
    yShape: number[];
    microBatch: number;
    total: number;
    weights?: ClassWeights | undefined;
    /** Indices into the model's weights of the variables to train, in the coordinator's order. */
    variables: number[];
    /** Fault injection for tests: die with an uncaught error instead of answering. */
    die?: boolean;
  };

/** What a worker answers, without the request's `id`. */
export type WorkerAnswer =
  | { type: "ready" }
  | { type: "step"; loss: number; updates: MovingStatisticsUpdate[] }
  | { type: "error"; message: string };

/** What a worker answers (`id` echoes the request's). */
export type WorkerReply = WorkerAnswer & { id: number };

let workerToKill = 0;

/**
 * Gradient worker `worker` (1-based) of the next step dies with an uncaught error instead of answering, as a
 * worker whose backend aborted would.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * killWorkerAtNextStep(2);
 * assert.equal(takeWorkerToKill(), 2);
 * assert.equal(takeWorkerToKill(), 0);
 * ```
 */
export function killWorkerAtNextStep(worker: number): void {
  workerToKill = worker;
}

/**
 * The worker {@linkcode killWorkerAtNextStep} named (0 for none), once: the pool takes it at each step.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(takeWorkerToKill(), 0);
 * ```
 */
export function takeWorkerToKill(): number {
  const worker = workerToKill;
  workerToKill = 0;
  return worker;
}
