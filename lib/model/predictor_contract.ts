/**
 * What every model runner shares: the {@link Predictor} interface and its results, and the argument and
 * shape checks both engines run (the tfjs engine in `predictor.ts`, the ONNX Runtime engine in
 * `onnx_runtime.ts`), so evaluation and serving do not care which one runs.
 *
 * @module
 */
import type { BundleMetadata } from "./bundle_format.ts";
import { BundleMismatchError, METADATA_JSON } from "./bundle.ts";
import { ModelError } from "./errors.ts";

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

/**
 * A predictor was used after `dispose()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(new PredictorDisposedError("tfjs").name, "PredictorDisposedError");
 * ```
 */
export class PredictorDisposedError extends ModelError {
  constructor(readonly engine: EngineName, options?: ErrorOptions) {
    super(`predict(): the ${engine} predictor has been disposed`, options);
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
 * Refuses a bundle whose model file disagrees with its `metadata.json`: the class count (the output's last
 * axis), the input size (height and width) and the channels must be fixed numbers equal to the metadata's; the
 * batch may be open. Both engines run it when a bundle is opened, so a wrong `metadata.json` is refused before
 * any image is scored (not mislabelled, and not resized to an absurd input first).
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
 * checkModelShape("b", "model.onnx", { input: ["N", 16, 16, 1], output: ["N", 3] }, meta);
 * assert.throws(
 *   () => checkModelShape("b", "model.onnx", { input: ["N", 16, 16, 1], output: ["N", 14] }, meta),
 *   { name: "BundleMismatchError", message: 'Bundle "b": model.onnx and metadata.json disagree: 14 outputs but 3 class names' },
 * );
 * assert.throws(
 *   () => checkModelShape("b", "model.json", { input: [null, 16, 16, 1], output: [null, 3] }, { ...meta, inputSize: 16384 }),
 *   /model\.json and metadata\.json disagree: input size 16x16 but metadata says 16384$/,
 * );
 * ```
 */
export function checkModelShape(
  dir: string,
  file: string,
  shape: ModelShape,
  metadata: Pick<BundleMetadata, "classNames" | "inputSize" | "channels">,
): void {
  const { input, output } = shape;
  const dim = (d: number | string | null | undefined) => String(d ?? "?");
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
  if (problems.length > 0) {
    throw new BundleMismatchError(
      `Bundle "${dir}": ${file} and ${METADATA_JSON} disagree: ${problems.join("; ")}`,
      dir,
    );
  }
}
