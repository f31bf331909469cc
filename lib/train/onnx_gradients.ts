/**
 * The ONNX Runtime training engine: {@linkcode startOnnxGradients} exports the model's training graph
 * (`exportTrainingOnnx`: forward in training mode, the loss and the backward pass as ONNX operators) once, opens
 * it in `onnxruntime-node` and answers {@linkcode GradientWorkers.computeGradients} as lib/train/step.ts does on
 * tfjs, with the weights read from the model at every step and the BatchNorm moves held back for `trainStep`.
 * The optimizer, checkpoints and validation stay on tfjs, so nothing downstream knows which engine computed a
 * step. It runs several times the img/s of the tfjs wasm step (`bench/model_throughput.ts`): ONNX Runtime's
 * convolutions (MLAS) run multi-threaded, and the backward convolutions are written as forward convolutions
 * and matrix products it runs well.
 *
 * @module
 */
import { cpus } from "node:os";
import * as ort from "onnxruntime-node";
import {
  exportOnnx,
  exportTrainingOnnx,
  type MovingStatisticsUpdate,
  tf,
  type tfl,
  type TrainingGraph,
} from "../model/mod.ts";
import { firstLine, onnxProviderProblem, onnxSessionOptions } from "../model/onnx_runtime.ts";
import { TrainError } from "./errors.ts";
import { checkBatch } from "./_gradient_protocol.ts";
import type { GradientWorkers, ParallelGradients, TrainStepOptions } from "./step.ts";

/** Options of {@linkcode startOnnxGradients}. */
export interface OnnxGradientOptions {
  /** ONNX Runtime's intra-op threads. @default every core */
  threads?: number | undefined;
  /** ONNX Runtime's execution provider: `cpu`, or `cuda` (an NVIDIA GPU). @default "cpu" */
  provider?: "cpu" | "cuda" | undefined;
  /** The GPU, with `cuda`. @default 0 */
  deviceId?: number | undefined;
}

/** The onnx engine: {@linkcode GradientWorkers} whose `computeGradients` also takes `total` (a worker's share). */
export interface OnnxGradients extends GradientWorkers {
  computeGradients(
    x: tf.Tensor,
    y: tf.Tensor,
    options?: Pick<TrainStepOptions, "microBatch" | "weights" | "variables" | "total">,
  ): Promise<ParallelGradients>;
}

/**
 * A training step on ONNX Runtime failed (the session could not be opened or a run failed); the message says
 * which and why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(new OnnxTrainingError("run failed") instanceof Error);
 * ```
 */
export class OnnxTrainingError extends TrainError {}

/**
 * Starts the ONNX Runtime engine for `model`: the training graph of its current layers (their `trainable`
 * flags as they will be during training; a frozen layer runs in inference mode, as on tfjs) on `threads`
 * threads. Its `computeGradients` reads the weights from the model at every call.
 *
 * @param model a model `exportTrainingOnnx` takes (createDenseNet's layer set, ending in a sigmoid Dense).
 * @param options threads, provider (cpu or cuda) and GPU.
 * @returns the engine as {@linkcode GradientWorkers} (`size` = threads); close it when done (`using` works).
 * @throws {OnnxExportError} for a layer the training graph cannot express; {@linkcode OnnxTrainingError} when
 *   the provider cannot run here (cuda without its library) or ONNX Runtime cannot open the graph.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend, tf } from "../model/mod.ts";
 * import { computeGradients } from "./step.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const x = tf.randomUniform([4, 16, 16, 1], 0, 255), y = tf.ones([4, 14]);
 * using onnx = await startOnnxGradients(model, { threads: 1 });
 * const a = await onnx.computeGradients(x, y, { microBatch: 2 });
 * const b = await computeGradients(model, x, y, { microBatch: 2 });
 * assert.ok(Math.abs(a.loss - b.loss) < 1e-5);
 * tf.dispose([...Object.values(a.grads), ...Object.values(b.grads)]);
 * ```
 */
export async function startOnnxGradients(
  model: tfl.LayersModel,
  options: OnnxGradientOptions = {},
): Promise<OnnxGradients> {
  const threads = options.threads ?? Math.max(1, navigator.hardwareConcurrency || cpus().length || 1);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`startOnnxGradients: threads must be an integer >= 1, got ${threads}`);
  }
  const provider = options.provider ?? "cpu", deviceId = options.deviceId ?? 0;
  if (!Number.isInteger(deviceId) || deviceId < 0) {
    throw new RangeError(`startOnnxGradients: deviceId must be an integer >= 0, got ${deviceId}`);
  }
  const problem = onnxProviderProblem(provider);
  if (problem) {
    throw new OnnxTrainingError(
      `startOnnxGradients: ONNX Runtime's "${provider}" provider cannot run: ${problem}`,
    );
  }
  const graph = await exportTrainingOnnx(model);
  const session = closable(
    await openSession(graph.bytes, threads, model.name, "training graph", { provider, deviceId }),
    "startOnnxGradients: the engine is closed",
  );
  return {
    size: threads,
    computeGradients: (x, y, stepOptions) =>
      onnxGradients(session.get(), graph, model, x, y, stepOptions ?? {}),
    close: session.close,
    [Symbol.dispose]: session.close,
  };
}

/** The model's inference pass on ONNX Runtime, as {@linkcode openOnnxForward} opens it. */
export interface OnnxForward extends Disposable {
  /** The model's outputs `[N, classes]` for images `x` (NHWC, as the model takes them). */
  predict(x: tf.Tensor): Promise<Float32Array>;
  close(): void;
}

/**
 * Opens the model's inference pass, with its weights as they are now, on ONNX Runtime (`exportOnnx`, BatchNorm
 * with its moving statistics): `train` validates each epoch with it on the onnx engine, at ONNX Runtime's
 * speed rather than the tfjs backend's. Open it again after the weights change.
 *
 * @param model the model (createDenseNet's layer set).
 * @param threads ONNX Runtime's intra-op threads.
 * @throws {OnnxExportError}; {@linkcode OnnxTrainingError} when ONNX Runtime cannot open it.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend, tf } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16, classes: 2 });
 * const x = tf.randomUniform([3, 16, 16, 1], 0, 255);
 * using forward = await openOnnxForward(model, 1);
 * const p = await forward.predict(x);
 * const q = await (model.predict(x) as tf.Tensor).data();
 * assert.ok(p.every((v, i) => Math.abs(v - q[i]!) < 1e-5));
 * ```
 */
export async function openOnnxForward(model: tfl.LayersModel, threads: number): Promise<OnnxForward> {
  const bytes = await exportOnnx(model, { cam: false });
  const session = closable(
    await openSession(bytes, threads, model.name, "inference pass"),
    "openOnnxForward: the inference pass is closed",
  );
  return {
    predict: async (x) => {
      const open = session.get();
      const image = new ort.Tensor("float32", float32(await x.data()), x.shape);
      try {
        const out = await open.run({ image }, ["probabilities"]);
        return out.probabilities!.data as Float32Array;
      } catch (e) {
        throw new OnnxTrainingError(
          `openOnnxForward: ONNX Runtime failed on ${x.shape[0]} images: ${firstLine(e)}`,
          { cause: e },
        );
      }
    },
    close: session.close,
    [Symbol.dispose]: session.close,
  };
}

/** `session` until `close` releases it (once); `get` then throws an {@linkcode OnnxTrainingError} saying `closed`. */
function closable(
  session: ort.InferenceSession,
  closed: string,
): { get(): ort.InferenceSession; close(): void } {
  let open: ort.InferenceSession | null = session;
  return {
    get: () => {
      if (!open) throw new OnnxTrainingError(closed);
      return open;
    },
    close: () => {
      const s = open;
      open = null;
      void s?.release().catch(() => {});
    },
  };
}

async function openSession(
  bytes: Uint8Array,
  threads: number,
  name: string,
  what: string,
  { provider, deviceId }: { provider: "cpu" | "cuda"; deviceId: number } = { provider: "cpu", deviceId: 0 },
): Promise<ort.InferenceSession> {
  try {
    return await ort.InferenceSession.create(
      bytes,
      onnxSessionOptions(provider, threads, provider === "cuda" ? deviceId : undefined),
    );
  } catch (e) {
    const on = provider === "cuda" ? ` on GPU ${deviceId}` : "";
    throw new OnnxTrainingError(`ONNX Runtime cannot open the ${what} of "${name}"${on}: ${firstLine(e)}`, {
      cause: e,
    });
  }
}

async function onnxGradients(
  session: ort.InferenceSession,
  graph: TrainingGraph,
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  options: Pick<TrainStepOptions, "microBatch" | "weights" | "variables" | "total">,
): Promise<ParallelGradients> {
  const { n, micro, total } = checkBatch(x, y, options.microBatch, options.total);
  const classes = graph.classes;
  if (y.shape[1] !== classes) {
    throw new RangeError(`computeGradients: labels [${y.shape}] for a model of ${classes} classes`);
  }
  // Which gradient outputs the caller wants, by variable name.
  // `model.weights` is a getter that walks every layer: read it once.
  const all = model.weights;
  const byVariable = new Map<string, { output: string; shape: number[] }>();
  for (const w of graph.weights) {
    const name = (all[w.index]!.read() as tf.Variable).name;
    if (w.gradient) byVariable.set(name, { output: w.gradient, shape: w.shape });
  }
  const variables = options.variables ?? model.trainableWeights.map((w) => w.read() as tf.Variable);
  const wanted = variables.map((v) => {
    const g = byVariable.get(v.name);
    if (!g) {
      throw new OnnxTrainingError(
        `computeGradients: variable "${v.name}" is not trained by the ONNX training graph (is its layer frozen?)`,
      );
    }
    return { name: v.name, ...g };
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const w of graph.weights) {
    const data = float32(await all[w.index]!.read().data());
    feeds[w.input] = new ort.Tensor("float32", data, w.shape);
  }
  const ones = new Float32Array(classes).fill(1);
  feeds.positive = new ort.Tensor("float32", options.weights?.positive ?? ones, [classes]);
  feeds.negative = new ort.Tensor("float32", options.weights?.negative ?? ones, [classes]);
  const xs = float32(await x.data()), ys = float32(await y.data());
  /** Rows `start`..`start + m` of `values`, a batch of `n` rows of `shape`. */
  const rows = (values: Float32Array, start: number, m: number, shape: number[]) => {
    const width = values.length / n;
    return new ort.Tensor("float32", values.subarray(start * width, (start + m) * width), [m, ...shape]);
  };
  const fetches = [
    "loss",
    ...wanted.map((w) => w.output),
    ...graph.statistics.flatMap((s) => [s.mean, s.variance]),
  ];
  const sums = wanted.map(() => null as Float32Array | null);
  const updates: MovingStatisticsUpdate[] = [];
  let loss = 0;
  for (let start = 0; start < n; start += micro) {
    const m = Math.min(micro, n - start);
    feeds.image = rows(xs, start, m, x.shape.slice(1));
    feeds.labels = rows(ys, start, m, [classes]);
    // Mean over the micro-batch's m · classes terms, times its share m / total of the batch.
    feeds.scale = new ort.Tensor("float32", Float32Array.of(1 / (total * classes)), [1]);
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await session.run(feeds, fetches);
    } catch (e) {
      throw new OnnxTrainingError(
        `computeGradients: ONNX Runtime failed on images ${start}..${start + m - 1}: ${firstLine(e)}`,
        { cause: e },
      );
    }
    loss += (out.loss!.data as Float32Array)[0]!;
    wanted.forEach((w, i) => {
      const g = out[w.output]!.data as Float32Array;
      const sum = sums[i];
      if (!sum) sums[i] = g;
      else for (let k = 0; k < g.length; k++) sum[k]! += g[k]!;
    });
    for (const s of graph.statistics) {
      // The moving variance moves towards the unbiased batch variance (lib/model/batch_normalization.ts).
      const count = m * s.perImage, unbias = count > 1 ? count / (count - 1) : 1;
      const variance = Float32Array.from(out[s.variance]!.data as Float32Array, (v) => v * unbias);
      updates.push({ layer: s.layer, mean: Float32Array.from(out[s.mean]!.data as Float32Array), variance });
    }
  }
  const grads: tf.NamedTensorMap = {};
  wanted.forEach((w, i) => (grads[w.name] = tf.tensor(sums[i]!, w.shape)));
  return { loss, grads, updates };
}

/**
 * `values` as a Float32Array that onnxruntime-node takes: tfjs may hand float32 values over in another array
 * type (cpu's cast from bool: Uint8Array), or as a view of the gradient workers' SharedArrayBuffer, which the
 * native binding refuses ("Invalid argument").
 */
function float32(values: ArrayLike<number>): Float32Array {
  return values instanceof Float32Array && !(values.buffer instanceof SharedArrayBuffer)
    ? values
    : Float32Array.from(values);
}
