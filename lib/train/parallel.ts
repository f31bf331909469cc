/**
 * Data-parallel training on every core: {@linkcode startGradientWorkers} starts Deno Workers, each with its
 * own tfjs backend (its own wasm heap) or, with `engine: "onnx"`, its own ONNX Runtime session
 * (lib/train/onnx_gradients.ts; with `provider: "cuda"` on its own GPU), and a copy of the model. Its
 * `computeGradients` gives each thread, this one included, a contiguous run of a batch's micro-batches; the
 * gradient sums come back through shared memory and are added in micro-batch order, and the BatchNorm
 * moving-statistics moves (held back with {@linkcode recordMovingStatistics}) are applied by the caller in
 * micro-batch order. So N threads compute what one does at the same batch and micro-batch, up to the order of
 * a floating-point sum: BatchNorm normalises with each micro-batch's own statistics in both.
 *
 * Before each step the weights a step can change (all of them the first time) go to the workers through
 * shared memory. The optimizer and checkpoints run once, in this thread.
 *
 * @module
 */
import { cpus } from "node:os";
import {
  type BackendName,
  BatchNormalization,
  type MovingStatisticsUpdate,
  recordMovingStatistics,
  tf,
  type tfl,
} from "../model/mod.ts";
import { shardRange } from "../shard.ts";
import { TrainError } from "./errors.ts";
import { checkBatch, takeWorkerToKill, type WorkerReply, type WorkerRequest } from "./_gradient_protocol.ts";
import { type BatchGradients, computeGradients, type GradientWorkers } from "./step.ts";

/** A gradient worker failed (its error or its death): the step fails, naming the worker. */
export class GradientWorkerError extends TrainError {
  /**
   * @param message Which worker failed and how.
   * @param worker The worker, 1-based (this thread is 0).
   */
  constructor(message: string, readonly worker: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Options of {@linkcode startGradientWorkers}. */
export interface GradientWorkerOptions {
  /** Threads computing gradients, this one included; 1 starts no worker (with `engine: "onnx"`, the pool is that one session). */
  workers: number;
  /**
   * What computes each thread's gradients: its tfjs backend, or ONNX Runtime (lib/train/onnx_gradients.ts: one
   * session per thread, this one included; the tfjs copy then only carries the weights). @default "tfjs"
   */
  engine?: "tfjs" | "onnx";
  /** With `onnx`: ONNX Runtime's intra-op threads per session. @default 1 */
  threads?: number;
  /** With `onnx`: the execution provider. @default "cpu" */
  provider?: "cpu" | "cuda";
  /** With `onnx` on `cuda`: the GPU of each thread (this one first). @default [0, 1, ...] */
  devices?: number[] | undefined;
}

/**
 * The number of gradient threads `train` uses by default on `backend` for images of `size` pixels: every core
 * on wasm and cpu (each thread runs single-threaded kernels) from 128 px up, 1 below and on backends that
 * already use the whole device. Below 128 px a step is too short for the weights and gradients to cross
 * between threads profitably (measured on 2 cores, DenseNet-121 at 64 px: slower with 2 threads; at 128 px:
 * 1.47 -> 2.47 img/s).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(defaultWorkers("webgpu", 224), 1);
 * assert.equal(defaultWorkers("wasm", 64), 1);
 * assert.ok(defaultWorkers("wasm", 224) >= 1);
 * ```
 */
export function defaultWorkers(backend: string, size = 224): number {
  if ((backend !== "wasm" && backend !== "cpu") || size < 128) return 1;
  return Math.max(1, navigator.hardwareConcurrency || cpus().length || 1);
}

/**
 * The rows `[start, end)` of thread `p` (0 = this one) of `parts`: a contiguous run of the micro-batches of
 * `micro` rows that `n` rows make.
 */
function threadRows(p: number, parts: number, n: number, micro: number): [number, number] {
  const [first, end] = shardRange(Math.ceil(n / micro), p, parts);
  return [first * micro, Math.min(n, end * micro)];
}

/**
 * Starts `workers - 1` gradient workers for `model` and waits until each has built its copy.
 *
 * @param model the model being trained (its layers' `trainable` flags as they will be during training).
 * @param options threads, and the engine with its settings.
 * @returns the pool; close it when done (`using` works).
 * @throws {RangeError} for a thread count below 1; {@linkcode GradientWorkerError} if a worker cannot start.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend, tf } from "../model/mod.ts";
 * import { computeGradients } from "./step.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const x = tf.randomUniform([4, 16, 16, 1], 0, 255), y = tf.ones([4, 14]);
 * using workers = await startGradientWorkers(model, { workers: 2 }); // this thread and one worker
 * const two = await workers.computeGradients(x, y, { microBatch: 2 });
 * const one = await computeGradients(model, x, y, { microBatch: 2 });
 * assert.ok(Math.abs(two.loss - one.loss) < 1e-6);
 * for (const [name, grad] of Object.entries(one.grads)) {
 *   assert.ok((tf.max(tf.abs(tf.sub(two.grads[name] ?? NaN, grad))).arraySync() as number) < 1e-5);
 * }
 * ```
 */
export async function startGradientWorkers(
  model: tfl.LayersModel,
  options: GradientWorkerOptions,
): Promise<GradientWorkers> {
  const size = options.workers;
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`startGradientWorkers: workers must be an integer >= 1, got ${size}`);
  }
  const engine = options.engine ?? "tfjs";
  // The onnx engine's workers use their tfjs copy only to hold the weights.
  const backend = (engine === "onnx" ? "cpu" : tf.getBackend()) as BackendName;
  const provider = options.provider ?? "cpu", threads = options.threads ?? 1;
  const devices = options.devices ?? Array.from({ length: size }, (_, i) => i);
  if (provider === "cuda" && devices.length !== size) {
    throw new RangeError(`startGradientWorkers: ${devices.length} devices for ${size} threads`);
  }
  const onnxFor = (w: number) =>
    engine === "onnx" ? { threads, provider, deviceId: provider === "cuda" ? devices[w]! : 0 } : undefined;
  // This thread's own ONNX Runtime session; the workers open theirs.
  const own = engine === "onnx"
    ? await (await import("./onnx_gradients.ts")).startOnnxGradients(model, onnxFor(0))
    : null;
  // One ONNX Runtime thread needs no pool: the session is the engine.
  if (own && size === 1) return own;
  const weights = model.weights;
  // Where each weight lies in the shared buffers.
  let total = 0;
  const slots = weights.map((weight) => {
    const shape = weight.shape as number[];
    const size = tf.util.sizeFromShape(shape);
    total += size;
    return { weight, shape, size, offset: total - size };
  });
  // What a step can change: trainable weights and the moving statistics of BatchNorm layers that train.
  const moving = new Set(
    model.layers.filter((l) => l instanceof BatchNormalization && l.trainable).flatMap((l) =>
      l.weights.slice(-2).map((w) => w.read())
    ),
  );
  const mutable = slots.filter(({ weight: w }) => w.trainable || moving.has(w.read()));
  const weightBuffer = new SharedArrayBuffer(total * 4);
  const weightView = new Float32Array(weightBuffer);
  const layout = slots.map(({ weight, shape, offset }) => ({ name: weight.originalName, shape, offset }));
  const topology = model.toJSON(undefined, false);
  const trainable = model.layers.map((l) => l.trainable);

  /** `index`: 1-based, as in messages. */
  type Entry = { index: number; worker: Worker; grads: Float32Array; gradBuffer: SharedArrayBuffer };
  const workers: Entry[] = [];
  let broken: GradientWorkerError | null = null;
  let closed = false;
  const pending = new Map<
    number,
    { resolve(r: WorkerReply): void; reject(e: Error): void; worker: number }
  >();
  let nextId = 1;
  const fail = (worker: number, message: string) => {
    broken ??= new GradientWorkerError(`Gradient worker ${worker} of ${size - 1} failed: ${message}`, worker);
    for (const p of pending.values()) p.reject(broken);
    pending.clear();
  };
  const request = (to: Entry, message: WorkerRequest) =>
    new Promise<WorkerReply>((resolve, reject) => {
      if (broken) return reject(broken);
      const id = nextId++;
      pending.set(id, { resolve, reject, worker: to.index });
      to.worker.postMessage({ ...message, id });
    });

  const close = () => {
    if (closed) return;
    closed = true;
    own?.close();
    for (const w of workers) w.worker.terminate();
    pending.forEach((p) => p.reject(new GradientWorkerError("The gradient workers were closed", p.worker)));
    pending.clear();
  };

  const sync = async (all: boolean) => {
    for (const { weight, offset } of all ? slots : mutable) {
      weightView.set(await weight.read().data() as Float32Array, offset);
    }
  };

  try {
    for (let w = 1; w < size; w++) {
      const worker = new Worker(new URL("./_gradient_worker.ts", import.meta.url), {
        type: "module",
        name: `cxr gradient worker ${w}`,
      });
      const gradBuffer = new SharedArrayBuffer(total * 4);
      workers.push({ index: w, worker, gradBuffer, grads: new Float32Array(gradBuffer) });
      worker.onmessage = (e: MessageEvent<WorkerReply>) => {
        const p = pending.get(e.data.id);
        if (!p) return;
        pending.delete(e.data.id);
        if (e.data.type === "error") {
          fail(w, e.data.message);
          p.reject(broken!);
        } else p.resolve(e.data);
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        fail(w, e.message || "the worker died");
        worker.terminate();
      };
      worker.onmessageerror = () => fail(w, "a message could not be read");
    }
    await sync(true);
    await Promise.all(workers.map((w) =>
      request(w, {
        type: "init",
        backend,
        topology,
        trainable,
        layout,
        weightBuffer,
        gradBuffer: w.gradBuffer,
        onnx: onnxFor(w.index),
      })
    ));
  } catch (e) {
    close();
    throw e;
  }

  let synced = true;
  const pool: GradientWorkers = {
    size,
    async computeGradients(x, y, options = {}) {
      if (closed) throw new GradientWorkerError("The gradient workers were closed", 0);
      if (broken) throw broken;
      const { n, micro } = checkBatch(x, y, options.microBatch);
      const vars = options.variables ?? model.trainableWeights.map((w) => w.read() as tf.Variable);
      const chosen = vars.map((v) => {
        const i = slots.findIndex((s) => s.weight.read() === v), slot = slots[i];
        if (!slot) {
          throw new RangeError(`computeGradients: variable "${v.name}" is not a weight of the model`);
        }
        return { name: v.name, i, slot };
      });
      if (!synced) await sync(false);
      synced = false;
      const die = takeWorkerToKill();
      const asked = workers.map((to) => {
        const [start, end] = threadRows(to.index, size, n, micro);
        if (end <= start) return null;
        const [xs, ys] = tf.tidy(() => [x.slice(start, end - start), y.slice(start, end - start)]);
        const message: WorkerRequest = {
          type: "step",
          x: xs.dataSync() as Float32Array,
          xShape: xs.shape,
          y: ys.dataSync() as Float32Array,
          yShape: ys.shape,
          microBatch: micro,
          total: n,
          weights: options.weights,
          variables: chosen.map((c) => c.i),
          ...(die === to.index ? { die: true } : {}),
        };
        tf.dispose([xs, ys]);
        // The data was copied: on cpu a slice may share its input's buffer.
        return request(to, message).then((reply) => ({ reply, grads: to.grads }));
      });
      // Handled here, not left unhandled: a worker may fail while this thread computes its share (on the onnx
      // engine it yields between runs), and the failure is thrown below, after that share.
      const replied = Promise.all(asked);
      replied.catch(() => {});
      const [start, end] = threadRows(0, size, n, micro);
      let mine: { result: BatchGradients; updates: MovingStatisticsUpdate[] } | null = null;
      try {
        if (end > start) {
          const [xs, ys] = tf.tidy(() => [x.slice(start, end - start), y.slice(start, end - start)]);
          const stepOptions = { microBatch: micro, weights: options.weights, variables: vars, total: n };
          try {
            mine = own
              ? await own.computeGradients(xs, ys, stepOptions).then((r) => ({
                result: r,
                updates: r.updates,
              }))
              : await recordMovingStatistics(() => computeGradients(model, xs, ys, stepOptions));
          } finally {
            tf.dispose([xs, ys]);
          }
        }
        const replies = (await replied).filter((r) => r !== null);
        let loss = mine?.result.loss ?? 0;
        const updates = [...(mine?.updates ?? [])];
        const grads: tf.NamedTensorMap = {};
        for (const { name, slot } of chosen) {
          // In micro-batch order: this thread's run first, then each worker's.
          const mineGrad = mine?.result.grads[name];
          grads[name] = tf.tidy(() =>
            replies.reduce(
              (sum, r) =>
                tf.add(sum, tf.tensor(r.grads.subarray(slot.offset, slot.offset + slot.size), slot.shape)),
              mineGrad ? tf.clone(mineGrad) : tf.zeros(slot.shape),
            )
          );
        }
        for (const { reply } of replies) {
          if (reply.type !== "step") continue;
          loss += reply.loss;
          updates.push(...reply.updates);
        }
        return { loss, grads, updates };
      } finally {
        if (mine) tf.dispose(Object.values(mine.result.grads));
      }
    },
    close,
    [Symbol.dispose]: close,
  };
  return pool;
}
