/**
 * DenseNet (Huang et al. 2017) in tfjs-layers with the layer names of `keras.applications.densenet`, so Keras
 * weights map by name, plus a sigmoid multi-label head named `predictions`.
 *
 * @module
 */
import { FINDINGS } from "../nih/classes.ts";
import { tfl } from "./tf.ts";
import { BatchNormalization } from "./batch_normalization.ts";
import { IMAGENET_NORMALIZATION, Normalization, Normalize } from "./normalize.ts";

/**
 * DenseNet-121's dense block sizes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(DENSENET121_BLOCKS.reduce((a, b) => a + b), 58);
 * ```
 */
export const DENSENET121_BLOCKS: readonly number[] = Object.freeze([6, 12, 24, 16]);

/** Options for {@link createDenseNet}; every field has a DenseNet-121 / ChestX-ray14 default. */
export interface DenseNetOptions {
  /** Layers per dense block. @default [6, 12, 24, 16] */
  blocks?: readonly number[];
  /** Channels each conv block adds. @default 32 */
  growthRate?: number;
  /** Filters of the stem convolution. @default 2 * growthRate (64) */
  stemFilters?: number;
  /** Height and width of the input. @default 224 */
  inputSize?: number;
  /** Channels of the raw input image (1 = grey, replicated by the normalisation layer). @default 1 */
  channels?: number;
  /** Output units (sigmoid). @default 14, one per ChestX-ray14 finding */
  classes?: number;
  /** Input normalisation inside the model, or `null` for none. @default ImageNet statistics */
  normalization?: Normalization | null;
  /** Add the global-average-pooling + sigmoid Dense head. @default true */
  includeTop?: boolean;
  /** Model name. @default "densenet" */
  name?: string;
  /**
   * How the stem pads: `keras-applications` is `zero_padding2d` (3) + valid 7x7/2 conv + `zero_padding2d_1`
   * (1) + valid 3x3/2 max pool, as `keras.applications.DenseNet121`; `same` is TF "same" padding on the conv
   * and the pool (asymmetric for stride 2: the extra pixel goes bottom/right), as keras-contrib's
   * `DenseNetImageNet121`. Same weight shapes, different outputs.
   * @default "keras-applications"
   */
  stem?: DenseNetStem;
  /** Epsilon of every BatchNormalization (keras-contrib's DenseNet uses 1.1e-5). @default 1.001e-5 */
  bnEpsilon?: number;
}

/**
 * The stem paddings {@link createDenseNet} can build.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(DENSENET_STEMS, ["keras-applications", "same"]);
 * ```
 */
export const DENSENET_STEMS = ["keras-applications", "same"] as const;
/** One stem padding. */
export type DenseNetStem = typeof DENSENET_STEMS[number];

const BN_EPSILON = 1.001e-5;

/** Applies a layer to a symbolic tensor (or tensors). */
function apply(layer: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]): tfl.SymbolicTensor {
  return layer.apply(x) as tfl.SymbolicTensor;
}

function bnRelu(x: tfl.SymbolicTensor, prefix: string, sep: string, epsilon: number): tfl.SymbolicTensor {
  // Keras 2's moving-variance update (batch_normalization.ts), not tfjs-layers' class.
  x = apply(new BatchNormalization({ axis: 3, epsilon, name: `${prefix}${sep}bn` }), x);
  return apply(tfl.layers.activation({ activation: "relu", name: `${prefix}${sep}relu` }), x);
}

function conv(x: tfl.SymbolicTensor, filters: number, kernel: number, name: string): tfl.SymbolicTensor {
  const padding = kernel > 1 ? "same" : "valid";
  return apply(tfl.layers.conv2d({ filters, kernelSize: kernel, padding, useBias: false, name }), x);
}

function convBlock(x: tfl.SymbolicTensor, growth: number, name: string, eps: number): tfl.SymbolicTensor {
  let y = bnRelu(x, `${name}_0`, "_", eps);
  y = conv(y, 4 * growth, 1, `${name}_1_conv`);
  y = bnRelu(y, `${name}_1`, "_", eps);
  y = conv(y, growth, 3, `${name}_2_conv`);
  return apply(tfl.layers.concatenate({ axis: 3, name: `${name}_concat` }), [x, y]);
}

function transition(x: tfl.SymbolicTensor, name: string, eps: number): tfl.SymbolicTensor {
  const channels = x.shape[3] as number;
  let y = bnRelu(x, name, "_", eps);
  y = conv(y, Math.floor(channels * 0.5), 1, `${name}_conv`);
  return apply(tfl.layers.averagePooling2d({ poolSize: 2, strides: 2, name: `${name}_pool` }), y);
}

function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`createDenseNet: ${what} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * Builds an untrained DenseNet. With the defaults it is DenseNet-121 (7,037,504 backbone parameters) with a
 * 14-unit sigmoid head: 7,051,854 parameters. Layer names follow Keras: `conv1/conv`, `conv1/bn`,
 * `conv1/relu`, `pool1`, `conv2_block1_0_bn` … `conv2_block1_concat`, `pool2_bn`, `pool2_conv`,
 * `pool2_pool`, …, `bn`, `relu`, `avg_pool`, `predictions`; the zero paddings are `zero_padding2d` and
 * `zero_padding2d_1` as in a fresh Keras session (none with `stem: "same"`), and the input normalisation is
 * `normalize`.
 *
 * @param options sizes; small values give a tiny test model; the stem padding and BatchNorm epsilon.
 * @returns an uncompiled `tfl.LayersModel` taking `[batch, size, size, channels]` raw pixels.
 * @throws {RangeError} when a size is not a positive integer, `blocks` is empty, `stem` is unknown or
 *   `bnEpsilon` is not positive.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const model = createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: 32 });
 * assert.deepEqual(model.outputs[0]?.shape, [null, 14]);
 * assert.ok(model.getLayer("conv2_block1_1_conv"));
 * model.dispose();
 * const contrib = createDenseNet({ blocks: [2], growthRate: 4, inputSize: 32, stem: "same", bnEpsilon: 1.1e-5 });
 * assert.equal(contrib.layers.some((l) => l.name.startsWith("zero_padding2d")), false);
 * assert.deepEqual(contrib.getLayer("pool1").outputShape, [null, 8, 8, 8]);
 * contrib.dispose();
 * ```
 */
export function createDenseNet(options: DenseNetOptions = {}): tfl.LayersModel {
  const blocks = [...(options.blocks ?? DENSENET121_BLOCKS)];
  if (blocks.length === 0) throw new RangeError("createDenseNet: blocks must list at least one dense block");
  blocks.forEach((b, i) => positiveInt(b, `blocks[${i}]`));
  const growth = positiveInt(options.growthRate ?? 32, "growthRate");
  const stem = positiveInt(options.stemFilters ?? 2 * growth, "stemFilters");
  const size = positiveInt(options.inputSize ?? 224, "inputSize");
  const channels = positiveInt(options.channels ?? 1, "channels");
  const classes = positiveInt(options.classes ?? FINDINGS.length, "classes");
  const normalization = options.normalization === undefined ? IMAGENET_NORMALIZATION : options.normalization;
  const stemKind = options.stem ?? "keras-applications";
  if (!DENSENET_STEMS.includes(stemKind)) {
    throw new RangeError(
      `createDenseNet: stem must be one of ${DENSENET_STEMS.join(", ")}, got "${stemKind}"`,
    );
  }
  const eps = options.bnEpsilon ?? BN_EPSILON;
  if (!(eps > 0)) throw new RangeError(`createDenseNet: bnEpsilon must be > 0, got ${eps}`);
  const same = stemKind === "same";

  const input = tfl.input({ shape: [size, size, channels], name: "image" });
  let x = input;
  if (normalization) x = apply(new Normalize({ normalization }), x);
  const padding = same ? "same" : "valid";
  if (!same) x = apply(tfl.layers.zeroPadding2d({ padding: [[3, 3], [3, 3]], name: "zero_padding2d" }), x);
  const stemConv = tfl.layers.conv2d({
    filters: stem,
    kernelSize: 7,
    strides: 2,
    padding,
    useBias: false,
    name: "conv1/conv",
  });
  x = bnRelu(apply(stemConv, x), "conv1", "/", eps);
  if (!same) x = apply(tfl.layers.zeroPadding2d({ padding: [[1, 1], [1, 1]], name: "zero_padding2d_1" }), x);
  x = apply(tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding, name: "pool1" }), x);
  blocks.forEach((count, b) => {
    for (let i = 1; i <= count; i++) x = convBlock(x, growth, `conv${b + 2}_block${i}`, eps);
    if (b < blocks.length - 1) x = transition(x, `pool${b + 2}`, eps);
  });
  x = bnRelu(x, "", "", eps);
  if (options.includeTop ?? true) {
    x = apply(tfl.layers.globalAveragePooling2d({ name: "avg_pool" }), x);
    x = apply(tfl.layers.dense({ units: classes, activation: "sigmoid", name: "predictions" }), x);
  }
  return tfl.model({ inputs: input, outputs: x, name: options.name ?? "densenet" });
}
