/**
 * The one definition of input normalisation, shared by training and serving.
 *
 * Choice: normalisation lives **inside the model** as the {@link Normalize} layer (class name
 * `CxrNormalize`, registered for serialisation). The model therefore takes raw grey pixels (0..255, one
 * channel) and a saved model cannot be served with the wrong preprocessing. The layer's `call` and any code
 * that needs the same transform outside a model both use {@link normalize}; the numbers also travel in the
 * bundle metadata (see `bundle.ts`) so other runtimes (ONNX) can reproduce them.
 *
 * @module
 */
import { tf, tfl } from "./tf.ts";
import { one } from "./_one.ts";

/** How raw pixels become network input: `(pixel / inputScale - mean[c]) / std[c]`, per output channel. */
export interface Normalization {
  /** Divisor that maps raw pixels to 0..1 (255 for 8-bit images). */
  inputScale: number;
  /** Per-channel mean subtracted after scaling, one entry per output channel. */
  mean: readonly number[];
  /** Per-channel standard deviation divided by after subtracting the mean. */
  std: readonly number[];
}

/**
 * ImageNet statistics (as torchvision and Keras' DenseNet "torch" mode use), three output channels.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(IMAGENET_NORMALIZATION.mean, [0.485, 0.456, 0.406]);
 * ```
 */
export const IMAGENET_NORMALIZATION: Normalization = Object.freeze({
  inputScale: 255,
  mean: Object.freeze([0.485, 0.456, 0.406]),
  std: Object.freeze([0.229, 0.224, 0.225]),
});

/**
 * Checks a {@link Normalization} and returns a plain copy.
 *
 * @throws {TypeError} when a field is missing or not numeric; {@link RangeError} when lengths differ,
 * `std` has a non-positive entry or `inputScale` is not positive.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.throws(() => checkNormalization({ inputScale: 255, mean: [0], std: [0] }), RangeError);
 * ```
 */
export function checkNormalization(value: Normalization): Normalization {
  const { inputScale, mean, std } = value ?? {};
  const isNums = (a: unknown) => Array.isArray(a) && a.every((x) => typeof x === "number" && isFinite(x));
  if (typeof inputScale !== "number" || !isNums(mean) || !isNums(std)) {
    throw new TypeError("checkNormalization: expected { inputScale: number, mean: number[], std: number[] }");
  }
  if (!(inputScale > 0)) {
    throw new RangeError(`checkNormalization: inputScale must be > 0, got ${inputScale}`);
  }
  if (mean.length === 0 || mean.length !== std.length) {
    throw new RangeError(
      `checkNormalization: mean (${mean.length}) and std (${std.length}) need the same length`,
    );
  }
  if (std.some((s) => !(s > 0))) {
    throw new RangeError(`checkNormalization: every std must be > 0, got [${std}]`);
  }
  return { inputScale, mean: [...mean], std: [...std] };
}

/**
 * Normalises a batch of raw images `[batch, height, width, channels]`: a 1-channel input is replicated to as
 * many channels as `normalization.mean` has, then scaled and standardised.
 *
 * @param pixels raw pixels (any numeric dtype; 0..255 for 8-bit images).
 * @param normalization the statistics; ImageNet's by default.
 * @returns a float32 tensor with `normalization.mean.length` channels.
 * @throws {RangeError} when `pixels` is not rank 4 or its channels are neither 1 nor the output count.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./tf.ts";
 * const out = normalize(tf.fill([1, 1, 1, 1], 255), { inputScale: 255, mean: [0.5, 0, 1], std: [0.5, 1, 2] });
 * assert.deepEqual(Array.from(await out.data()), [1, 1, 0]);
 * ```
 */
export function normalize(
  pixels: tf.Tensor,
  normalization: Normalization = IMAGENET_NORMALIZATION,
): tf.Tensor4D {
  const { inputScale, mean, std } = normalization;
  const out = mean.length;
  if (pixels.rank !== 4) {
    throw new RangeError(`normalize: pixels must be rank 4, got shape [${pixels.shape}]`);
  }
  const c = pixels.shape[3];
  if (c !== 1 && c !== out) {
    throw new RangeError(`normalize: pixels have ${c} channels; expected 1 or ${out}`);
  }
  return tf.tidy(() => {
    let x = tf.cast(pixels, "float32");
    if (c === 1 && out !== 1) x = tf.tile(x, [1, 1, 1, out]);
    const mul = tf.tensor1d(std.map((s) => 1 / (inputScale * s)));
    const add = tf.tensor1d(mean.map((m, i) => -m / std[i]!)); // checkNormalization: same lengths
    return tf.add(tf.mul(x, mul), add) as tf.Tensor4D;
  });
}

/** Configuration of the {@link Normalize} layer. */
export interface NormalizeLayerArgs {
  /** Layer name; `normalize` by default. */
  name?: string;
  /** Statistics; ImageNet's by default. */
  normalization?: Normalization;
  /** Input shape without the batch dimension, when the layer is first in a Sequential model. */
  inputShape?: number[];
}

/**
 * A parameter-free layer that applies {@link normalize}; serialisable as `CxrNormalize`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./tf.ts";
 * const layer = new Normalize({ normalization: { inputScale: 1, mean: [0, 0, 0], std: [1, 1, 1] } });
 * const y = layer.apply(tf.ones([1, 2, 2, 1])) as tf.Tensor;
 * assert.deepEqual(y.shape, [1, 2, 2, 3]);
 * ```
 */
export class Normalize extends tfl.layers.Layer {
  /** Serialisation name. */
  static className = "CxrNormalize";
  /** The statistics applied. */
  readonly normalization: Normalization;

  constructor(args: NormalizeLayerArgs = {}) {
    super({
      name: args.name ?? "normalize",
      ...(args.inputShape === undefined ? {} : { inputShape: args.inputShape }),
    });
    this.normalization = checkNormalization(args.normalization ?? IMAGENET_NORMALIZATION);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [...shape.slice(0, 3), this.normalization.mean.length];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return normalize(one(inputs), this.normalization);
  }

  override getConfig(): tf.serialization.ConfigDict {
    const { inputScale, mean, std } = this.normalization;
    return { ...super.getConfig(), normalization: { inputScale, mean: [...mean], std: [...std] } };
  }
}
tf.serialization.registerClass(Normalize);
