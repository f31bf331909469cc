/**
 * Model runners: one {@link Predictor} interface over a model bundle, with a tfjs engine (any backend) and an
 * ONNX Runtime engine (`onnx_runtime.ts`, loaded only when asked for). Both answer probabilities and, on
 * request, class activation maps with the same definition, so evaluation and serving do not care which runs.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { BundleMetadata } from "./bundle_format.ts";
import { BundleMismatchError, METADATA_JSON, readBundleMetadata } from "./bundle.ts";
import { selectBackend } from "./backend.ts";
import { loadModel } from "./io.ts";
import { tf, tfl } from "./tf.ts";

/** The bundle's ONNX file name. */
export const MODEL_ONNX = "model.onnx";

/** The engines a {@link Predictor} can run on. */
export const ENGINES = ["tfjs", "onnx"] as const;
/** One engine name. */
export type EngineName = typeof ENGINES[number];

/**
 * Class activation maps: data is n*height*width*classes (NHWC), cam[i,y,x,c] = sum_k features[i,y,x,k]*kernel[k,c]
 * where features is the input of the global-average-pooling layer and kernel the final Dense layer's weights
 * (no bias, before the sigmoid). 7x7 for DenseNet-121 at 224.
 */
export interface ClassActivationMaps {
  /** `n * height * width * classes` values, NHWC. */
  data: Float32Array;
  /** Map height. */
  height: number;
  /** Map width. */
  width: number;
  /** Classes (last axis). */
  classes: number;
}

/** What {@link Predictor.predict} returns. */
export interface Prediction {
  /** `n * classes` probabilities, row-major. */
  probabilities: Float32Array;
  /** Class activation maps, when asked for. */
  cam?: ClassActivationMaps;
}

/** A loaded model that scores batches of raw grey images. */
export interface Predictor {
  /** The engine running the model. */
  readonly engine: EngineName;
  /** The bundle's metadata: class names, inputSize, modelVersion ... */
  readonly metadata: BundleMetadata;
  /** pixels: raw grey 0..255, n * inputSize * inputSize, row-major (the model normalises inside). */
  predict(pixels: Uint8Array, n: number, options?: { cam?: boolean }): Promise<Prediction>;
  /** Frees the model; later calls to `predict` reject. */
  dispose(): Promise<void>;
}

/** Options for {@link openPredictor}. */
export interface OpenPredictorOptions {
  /** "auto": onnx when the bundle has model.onnx, else tfjs. @default "auto" */
  engine?: EngineName | "auto";
  /** ONNX Runtime intra-op threads (onnx engine only). @default ONNX Runtime's choice (all cores) */
  threads?: number;
  /** ONNX Runtime execution provider (onnx engine only). @default "cpu" */
  provider?: "cpu" | "webgpu" | "cuda";
}

/**
 * A predictor was used after `dispose()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(new PredictorDisposedError("tfjs").name, "PredictorDisposedError");
 * ```
 */
export class PredictorDisposedError extends Error {
  constructor(engine: EngineName) {
    super(`predict(): the ${engine} predictor has been disposed`);
    this.name = "PredictorDisposedError";
  }
}

/**
 * Checks `predict()`'s arguments against the bundle's input size and channels.
 *
 * @throws {TypeError} when `pixels` is not a Uint8Array; {@link RangeError} when `n` is not a positive
 * integer or the pixel count is not `n * inputSize * inputSize * channels`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const meta = { inputSize: 2, channels: 1 };
 * checkPredictArgs(new Uint8Array(8), 2, meta);
 * assert.throws(() => checkPredictArgs(new Uint8Array(7), 2, meta), /predict\(\): expected 8 pixels/);
 * ```
 */
export function checkPredictArgs(
  pixels: Uint8Array,
  n: number,
  metadata: Pick<BundleMetadata, "inputSize" | "channels">,
): void {
  if (!(pixels instanceof Uint8Array)) {
    throw new TypeError("predict(): pixels must be a Uint8Array of raw grey values 0..255");
  }
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`predict(): n must be a positive integer, got ${n}`);
  }
  const { inputSize: s, channels: c } = metadata;
  const expected = n * s * s * c;
  if (pixels.length !== expected) {
    throw new RangeError(
      `predict(): expected ${expected} pixels (${n} x ${s} x ${s} x ${c}), got ${pixels.length}`,
    );
  }
}

/**
 * What a model file declares about its input and output: `[batch, height, width, channels]` and
 * `[batch, classes]` (the classes on the last axis). A dimension the file leaves open is `null` (tfjs) or a
 * name such as `"N"` (ONNX).
 */
export interface ModelShape {
  /** The image input's shape, batch first. */
  input: readonly (number | string | null)[];
  /** The probabilities output's shape, batch first. */
  output: readonly (number | string | null)[];
}

/**
 * Lists how a model's declared shape disagrees with its bundle metadata: the class count (the output's last
 * axis), the input size (height and width) and the channels must be fixed numbers equal to the metadata's;
 * the batch may be open.
 * Both engines check this when a bundle is opened, so a wrong `metadata.json` is refused before any image is
 * scored (not mislabelled, and not resized to an absurd input first).
 *
 * @param shape the model's input and output shapes.
 * @param metadata the bundle metadata describing it.
 * @returns one line per disagreement; empty when they agree.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const meta = { classNames: ["a", "b", "c"], inputSize: 16, channels: 1 };
 * assert.deepEqual(modelShapeMismatches({ input: ["N", 16, 16, 1], output: ["N", 3] }, meta), []);
 * assert.deepEqual(modelShapeMismatches({ input: [null, 16, 16, 1], output: [null, 14] }, meta), [
 *   "14 outputs but 3 class names",
 * ]);
 * assert.deepEqual(modelShapeMismatches({ input: ["N", 16, 16, 1], output: ["N", 3] }, { ...meta, inputSize: 16384 }), [
 *   "input size 16x16 but metadata says 16384",
 * ]);
 * ```
 */
export function modelShapeMismatches(
  shape: ModelShape,
  metadata: Pick<BundleMetadata, "classNames" | "inputSize" | "channels">,
): string[] {
  const { input, output } = shape;
  const dim = (d: number | string | null | undefined) => typeof d === "number" ? String(d) : String(d ?? "?");
  const problems: string[] = [];
  if (input.length !== 4) {
    problems.push(`input shape [${input.map(dim)}] is not [batch, height, width, channels]`);
  } else {
    const [, h, w, c] = input;
    if (h !== metadata.inputSize || w !== metadata.inputSize) {
      problems.push(`input size ${dim(h)}x${dim(w)} but metadata says ${metadata.inputSize}`);
    }
    if (c !== metadata.channels) {
      problems.push(`${dim(c)} input channels but metadata says ${metadata.channels}`);
    }
  }
  const classes = metadata.classNames.length;
  const last = output[output.length - 1];
  if (output.length < 2) problems.push(`output shape [${output.map(dim)}] is not [batch, ..., classes]`);
  else if (last !== classes) problems.push(`${dim(last)} outputs but ${classes} class names`);
  return problems;
}

/**
 * Refuses a bundle whose model file disagrees with its `metadata.json` (see {@link modelShapeMismatches}).
 * The one check both engines run at open.
 *
 * @param dir the bundle folder, for the message.
 * @param file the model file's name in the bundle (`model.json`, `model.onnx`).
 * @param shape what the model file declares.
 * @param metadata the bundle metadata.
 * @throws {BundleMismatchError} naming the file and every disagreement.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const meta = { classNames: ["a", "b", "c"], inputSize: 16, channels: 1 };
 * assert.throws(
 *   () => checkModelShape("b", "model.onnx", { input: ["N", 16, 16, 1], output: ["N", 14] }, meta),
 *   { name: "BundleMismatchError", message: 'Bundle "b": model.onnx and metadata.json disagree: 14 outputs but 3 class names' },
 * );
 * ```
 */
export function checkModelShape(
  dir: string,
  file: string,
  shape: ModelShape,
  metadata: Pick<BundleMetadata, "classNames" | "inputSize" | "channels">,
): void {
  const problems = modelShapeMismatches(shape, metadata);
  if (problems.length > 0) {
    throw new BundleMismatchError(
      `Bundle "${dir}": ${file} and ${METADATA_JSON} disagree: ${problems.join("; ")}`,
      dir,
    );
  }
}

/** Finds the global-average-pooling layer whose output feeds the final Dense layer, for CAMs. */
function _camLayers(model: tfl.LayersModel): { pool: tfl.layers.Layer; dense: tfl.layers.Layer } | null {
  const dense = model.layers[model.layers.length - 1];
  if (dense?.getClassName() !== "Dense" || dense.inboundNodes.length !== 1) return null;
  const pool = dense.inboundNodes[0].inboundLayers[0];
  if (pool?.getClassName() !== "GlobalAveragePooling2D") return null;
  return { pool, dense };
}

class TfjsPredictor implements Predictor {
  readonly engine = "tfjs" as const;
  readonly metadata: BundleMetadata;
  #model: tfl.LayersModel | null;
  #both: tfl.LayersModel | null;
  #kernel: tf.Tensor2D | null;

  constructor(model: tfl.LayersModel, metadata: BundleMetadata) {
    this.metadata = metadata;
    this.#model = model;
    const cam = _camLayers(model);
    if (cam) {
      // Shares the layers (and weights) of `model`: only `model` is disposed.
      this.#both = tfl.model({
        inputs: model.inputs,
        outputs: [model.outputs[0], cam.pool.input as tfl.SymbolicTensor],
      });
      this.#kernel = cam.dense.getWeights()[0] as tf.Tensor2D;
    } else {
      this.#both = null;
      this.#kernel = null;
    }
  }

  async predict(pixels: Uint8Array, n: number, options: { cam?: boolean } = {}): Promise<Prediction> {
    if (!this.#model) throw new PredictorDisposedError(this.engine);
    checkPredictArgs(pixels, n, this.metadata);
    const { inputSize: s, channels: c } = this.metadata;
    if (options.cam && !this.#both) {
      throw new RangeError(
        "predict(): this model has no GlobalAveragePooling2D -> Dense head, so no class activation maps",
      );
    }
    const x = tf.tensor4d(Float32Array.from(pixels), [n, s, s, c]);
    try {
      if (!options.cam) {
        const y = this.#model.predict(x) as tf.Tensor;
        try {
          return { probabilities: new Float32Array(await y.data()) };
        } finally {
          y.dispose();
        }
      }
      const [y, features] = this.#both!.predict(x) as tf.Tensor[];
      const [, h, w, k] = features.shape as number[];
      const classes = this.#kernel!.shape[1];
      const cam = tf.tidy(() => tf.matMul(features.reshape([n * h * w, k]), this.#kernel!));
      try {
        const [probabilities, maps] = await Promise.all([y.data(), cam.data()]);
        return {
          probabilities: new Float32Array(probabilities),
          cam: { data: new Float32Array(maps), height: h, width: w, classes },
        };
      } finally {
        tf.dispose([y, features, cam]);
      }
    } finally {
      x.dispose();
    }
  }

  dispose(): Promise<void> {
    this.#model?.dispose();
    this.#model = this.#both = this.#kernel = null;
    return Promise.resolve();
  }
}

/**
 * Wraps an already loaded tfjs model as a {@link Predictor} (the tfjs engine of {@link openPredictor}).
 * The predictor owns the model: its `dispose()` disposes it.
 *
 * @param model a model taking `[n, size, size, channels]` raw pixels.
 * @param metadata the bundle metadata describing it.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, saveBundle, selectBackend } from "./mod.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const metadata = await saveBundle(model, Deno.makeTempDirSync() + "/b");
 * const predictor = tfjsPredictor(model, metadata);
 * const { probabilities, cam } = await predictor.predict(new Uint8Array(2 * 16 * 16), 2, { cam: true });
 * assert.equal(probabilities.length, 28);
 * assert.deepEqual([cam!.height, cam!.width, cam!.classes], [4, 4, 14]);
 * await predictor.dispose();
 * ```
 */
export function tfjsPredictor(model: tfl.LayersModel, metadata: BundleMetadata): Predictor {
  return new TfjsPredictor(model, metadata);
}

/**
 * Opens a model bundle for scoring. With `engine: "auto"` the ONNX Runtime engine is used when the bundle has
 * `model.onnx`, else tfjs. The tfjs engine uses the active tfjs backend (it selects `auto` when none is set).
 * Class names are taken from the bundle as they are; both engines check the model file's class count, input
 * size and channels against `metadata.json` here ({@link checkModelShape}), before any image is scored.
 *
 * @param dir the bundle folder.
 * @param options engine, and the ONNX Runtime threads and provider.
 * @returns a predictor; call `dispose()` when done.
 * @throws {TypeError} for an unknown engine; `BundleMetadataSyntaxError`/`ModelFileError` for a broken
 * bundle; `BundleMismatchError` when the model disagrees with its metadata; `OnnxRuntimeError` when the onnx
 * engine is asked for and cannot run.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, saveBundle, selectBackend } from "./mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync() + "/b";
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * await saveBundle(model, dir);
 * model.dispose();
 * const predictor = await openPredictor(dir);
 * assert.equal(predictor.engine, "tfjs");
 * const { probabilities } = await predictor.predict(new Uint8Array(16 * 16), 1);
 * assert.ok(probabilities.every((p) => p > 0 && p < 1));
 * await assert.rejects(predictor.predict(new Uint8Array(3), 1), RangeError);
 * await predictor.dispose();
 * ```
 */
export async function openPredictor(dir: string, options: OpenPredictorOptions = {}): Promise<Predictor> {
  const engine = options.engine ?? "auto";
  if (engine !== "auto" && !ENGINES.includes(engine)) {
    throw new TypeError(
      `openPredictor: unknown engine "${engine}"; expected one of auto, ${ENGINES.join(", ")}`,
    );
  }
  const metadata = await readBundleMetadata(dir);
  if (engine === "onnx" || (engine === "auto" && existsSync(join(dir, MODEL_ONNX)))) {
    const { openOnnxPredictor } = await import("./onnx_runtime.ts");
    return await openOnnxPredictor(dir, { threads: options.threads, provider: options.provider });
  }
  if (!tf.getBackend()) await selectBackend("auto");
  const model = await loadModel(dir);
  try {
    checkModelShape(
      dir,
      "model.json",
      { input: model.inputs[0].shape, output: model.outputs[0].shape },
      metadata,
    );
  } catch (e) {
    model.dispose();
    throw e;
  }
  return new TfjsPredictor(model, metadata);
}
