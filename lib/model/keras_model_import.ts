/**
 * Turning a Keras HDF5 DenseNet with a 14-sigmoid head into a model bundle (`cxr import keras`): a whole-model
 * file (`model.save`) or a weights-only one (`save_weights`), wrapped or not (`multi_gpu_model`, a CheXNet-style
 * nested backbone), from `keras.applications.DenseNet121` or keras-contrib's `DenseNetImageNet121` (the seed's:
 * auto-generated layer names, TF "same" stem padding, BatchNorm epsilon 1.1e-5, 3-channel 0..255 input).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { basename } from "node:path";
import h5wasm from "h5wasm/node";
import { FINDINGS } from "../nih/classes.ts";
import { saveBundle } from "./bundle.ts";
import { createDenseNet, DENSENET121_BLOCKS } from "./densenet.ts";
import { inferKerasDenseNet, KerasModelImportError, loadKerasLayers } from "./keras_densenet.ts";
import { flattenKerasModel, parseKerasModelConfig, unwrapKerasModel } from "./keras_model_format.ts";
import { IMAGENET_NORMALIZATION, type Normalization } from "./normalize.ts";
import { checkBundleOnnx, type OnnxCheck, writeBundleOnnx } from "./onnx_export.ts";
import { readKerasH5 } from "./_keras_h5.ts";

/** Where a Keras DenseNet came from: `keras.applications.DenseNet121` or keras-contrib's `DenseNetImageNet*`. */
export const KERAS_FLAVORS = ["applications", "contrib"] as const;
/** One flavor. */
export type KerasFlavor = typeof KERAS_FLAVORS[number];

/** What the Keras model was fed: `raw255` (0..255, no mean/std), `imagenet` (0..1, ImageNet mean/std). */
export const INPUT_CONVENTIONS = ["raw255", "imagenet"] as const;
/** One input convention. */
export type InputConvention = typeof INPUT_CONVENTIONS[number];

/**
 * The normalisation that feeds a model what it was trained on, for `channels` model input channels.
 *
 * @throws {RangeError} for `imagenet` with other than 3 channels.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(inputNormalization("raw255"), { inputScale: 1, mean: [0, 0, 0], std: [1, 1, 1] });
 * assert.equal(inputNormalization("imagenet").inputScale, 255);
 * ```
 */
export function inputNormalization(convention: InputConvention, channels = 3): Normalization {
  if (convention === "raw255") {
    return { inputScale: 1, mean: Array(channels).fill(0), std: Array(channels).fill(1) };
  }
  if (convention !== "imagenet" || channels !== 3) {
    throw new RangeError(
      `inputNormalization: "${convention}" for ${channels} channels; expected raw255, or imagenet with 3 channels`,
    );
  }
  return {
    ...IMAGENET_NORMALIZATION,
    mean: [...IMAGENET_NORMALIZATION.mean],
    std: [...IMAGENET_NORMALIZATION.std],
  };
}

/** Options for {@link importKerasModel}. */
export interface ImportKerasModelOptions {
  /** Output names in order; as many as the head's units. @default the 14 ChestX-ray14 findings */
  classNames?: readonly string[];
  /** What the model was fed. @default `raw255` for keras-contrib models, `imagenet` for keras.applications */
  input?: InputConvention;
  /** Where the model came from. @default detected: the stem's padding in `model_config`, else the layer names */
  flavor?: KerasFlavor;
  /** Model name (the scoring API's `model.name`). @default `densenet121` for DenseNet-121, else `densenet` */
  name?: string;
  /** Model version. @default `<name>-keras-<first 8 hex digits of the file's md5>` */
  modelVersion?: string;
  /** Input height and width. @default the `model_config`'s, else 224 */
  inputSize?: number;
  /** Seeded random images to compare ONNX Runtime with tfjs on (1e-5); 0 skips the check. @default 2 */
  checkImages?: number;
}

/** What {@link importKerasModel} did. */
export interface KerasModelImportSummary {
  /** The bundle folder. */
  bundle: string;
  /** The Keras file. */
  file: string;
  /** md5 of the file, 32 hex digits. */
  md5: string;
  /** `whole-model` (`model.save`) or `weights-only` (`save_weights`). */
  layout: "whole-model" | "weights-only";
  /** The `keras_version` the file records, or `null`. */
  kerasVersion: string | null;
  /** Nested-model layers descended through to reach the real model (e.g. `["model_1"]` for multi_gpu_model). */
  unwrapped: string[];
  /** The source flavor, and how it was decided. */
  flavor: KerasFlavor;
  /** `option`, `model_config` or `layer names`. */
  flavorFrom: "option" | "model_config" | "layer names";
  /** How layers were matched. */
  mapping: "name" | "order";
  /** The input convention, now in the bundle's normalisation. */
  input: InputConvention;
  /** The bundle's model name and version. */
  name: string;
  /** Model version written. */
  modelVersion: string;
  /** DenseNet sizes read from the file. */
  blocks: number[];
  /** Growth rate read from the file. */
  growthRate: number;
  /** Input size of the bundle. */
  inputSize: number;
  /** Class names written. */
  classNames: string[];
  /** Weights copied. */
  loaded: number;
  /** File layers with weights the model did not take. */
  unused: string[];
  /** `model.onnx`: path, size, and the check against tfjs (`null` when skipped). */
  onnx: { path: string; bytes: number; check: OnnxCheck | null };
}

const MODEL_LAYERS = new Set([
  "InputLayer",
  "Conv2D",
  "BatchNormalization",
  "Activation",
  "ReLU",
  "ZeroPadding2D",
  "MaxPooling2D",
  "AveragePooling2D",
  "Concatenate",
  "GlobalAveragePooling2D",
  "Dense",
  "Dropout",
]);

interface ConfigFacts {
  unwrapped: string[];
  inputSize: number | null;
  flavor: KerasFlavor | null;
  epsilon: number | null;
}

/** What the model_config says, after refusing what our DenseNet cannot reproduce. */
function configFacts(text: string, file: string): ConfigFacts {
  const { model, path } = unwrapKerasModel(parseKerasModelConfig(text, file));
  const layers = flattenKerasModel(model);
  const refuse = (name: string, what: string): never => {
    throw new KerasModelImportError(
      `Cannot import Keras model "${file}": layer "${name}" ${what}`,
      file,
      name,
    );
  };
  for (const l of layers) {
    if (!MODEL_LAYERS.has(l.className)) {
      refuse(l.name, `(class ${l.className}) is not part of a DenseNet; supported: ${[...MODEL_LAYERS]}`);
    }
    if (l.config.data_format === "channels_first") refuse(l.name, "is channels_first; only channels_last");
    const act = l.config.activation;
    if (l.className === "Activation" && act !== "relu") refuse(l.name, `has activation "${act}", not relu`);
  }
  const dense = layers.filter((l) => l.className === "Dense").at(-1);
  if (dense && dense.config.activation !== "sigmoid") {
    refuse(dense.name, `(the head) has activation "${dense.config.activation}"; expected sigmoid`);
  }
  const input = layers.find((l) => l.className === "InputLayer");
  const shape = (input?.config.batch_input_shape ?? input?.config.batch_shape) as
    | (number | null)[]
    | undefined;
  const stem = layers.find((l) => l.className === "Conv2D");
  const strides = stem?.config.strides as number[] | undefined;
  if (stem && strides && (strides[0] !== 2 || strides[1] !== 2)) {
    refuse(stem.name, `has strides [${strides}]; expected 2`);
  }
  const bn = layers.find((l) => l.className === "BatchNormalization");
  return {
    unwrapped: path,
    inputSize: typeof shape?.[1] === "number" ? shape[1] : null,
    flavor: layers.some((l) => l.className === "ZeroPadding2D")
      ? "applications"
      : stem?.config.padding === "same"
      ? "contrib"
      : null,
    epsilon: typeof bn?.config.epsilon === "number" ? bn.config.epsilon : null,
  };
}

/**
 * Imports a Keras HDF5 DenseNet into a model bundle with `model.onnx`: reads the DenseNet's sizes from the file's
 * layers (unwrapping a model nested in another), builds our DenseNet (grey input, the source's stem padding and
 * BatchNorm epsilon, the input convention in its `normalize` layer), copies the weights (by name, else by
 * topological order and shapes), writes the bundle and checks ONNX Runtime against tfjs. Call
 * `selectBackend()` first.
 *
 * @param file the `.h5` file.
 * @param outDir the bundle folder (replaced as a whole).
 * @throws {KerasModelImportError} for a file that is not such a DenseNet, naming the first layer or weight that
 *   does not match (both names and shapes) or the ONNX disagreement; `KerasConfigSyntaxError` for a broken
 *   `model_config`; {@link RangeError} for bad options.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend } from "./mod.ts";
 * import { h5Ready, writeKerasH5 } from "./_keras_h5_testing.ts";
 * await selectBackend("cpu");
 * await h5Ready;
 * const dir = Deno.makeTempDirSync();
 * const source = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16, normalization: null, channels: 3 });
 * writeKerasH5(source, `${dir}/weights.h5`);
 * const summary = await importKerasModel(`${dir}/weights.h5`, `${dir}/bundle`, { inputSize: 16 });
 * assert.deepEqual([summary.flavor, summary.mapping, summary.input], ["applications", "name", "imagenet"]);
 * assert.ok(summary.onnx.check!.maxAbsDiff <= 1e-5);
 * ```
 */
export async function importKerasModel(
  file: string,
  outDir: string,
  options: ImportKerasModelOptions = {},
): Promise<KerasModelImportSummary> {
  const checkImages = options.checkImages ?? 2;
  if (!Number.isInteger(checkImages) || checkImages < 0) {
    throw new RangeError(`importKerasModel: checkImages must be an integer >= 0, got ${checkImages}`);
  }
  if (options.name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(options.name)) {
    throw new RangeError(
      `importKerasModel: name must be letters, digits, "_", "." or "-", got "${options.name}"`,
    );
  }
  let bytes: Uint8Array, contents: ReturnType<typeof readKerasH5>;
  try {
    bytes = await readFile(file);
    await h5wasm.ready;
    contents = readKerasH5(file);
  } catch (e) {
    throw new KerasModelImportError(
      `Cannot import Keras model "${file}": ${(e as Error).message}`,
      file,
      "",
      { cause: e },
    );
  }
  const md5 = createHash("md5").update(bytes).digest("hex");
  const facts = contents.modelConfig ? configFacts(contents.modelConfig, file) : null;
  // Without a config: a wrapper is a file whose weights all sit in one nested model's group.
  const wrapper = contents.nested.length === 1 &&
    contents.layers.every((l) => l.nestedIn === contents.nested[0]);
  const unwrapped = facts?.unwrapped ?? (wrapper ? contents.nested : []);
  const shape = inferKerasDenseNet(contents.layers, file);
  const applicationsNames = contents.layerNames.some((n) => /^zero_padding2d/.test(n)) ||
    contents.layers.some((l) => l.name === "conv1/conv");
  const flavor: KerasFlavor = options.flavor ?? facts?.flavor ??
    (applicationsNames ? "applications" : "contrib");
  const flavorFrom = options.flavor ? "option" : facts?.flavor ? "model_config" : "layer names";
  const input = options.input ?? (flavor === "contrib" ? "raw255" : "imagenet");
  const choices: [string, string, readonly string[]][] = [
    ["flavor", flavor, KERAS_FLAVORS],
    ["input", input, INPUT_CONVENTIONS],
  ];
  for (const [what, value, allowed] of choices) {
    if (!allowed.includes(value)) {
      throw new RangeError(`importKerasModel: ${what} must be one of ${allowed.join(", ")}, got "${value}"`);
    }
  }
  const classNames = [...(options.classNames ?? FINDINGS)];
  if (classNames.length !== shape.classes) {
    throw new KerasModelImportError(
      `Cannot import Keras model "${file}": its head has ${shape.classes} outputs but ${classNames.length} ` +
        `class names were given${options.classNames ? "" : " (the 14 ChestX-ray14 findings by default)"}`,
      file,
      contents.layers.at(-1)?.name ?? "",
    );
  }
  const is121 = shape.blocks.join() === DENSENET121_BLOCKS.join() && shape.growthRate === 32;
  const name = options.name ?? (is121 ? "densenet121" : "densenet");
  const inputSize = options.inputSize ?? facts?.inputSize ?? 224;
  let normalization: Normalization;
  try {
    normalization = inputNormalization(input, shape.inputChannels);
  } catch (e) {
    throw new KerasModelImportError(
      `Cannot import Keras model "${file}": --input ${input} needs a 3-channel model; ` +
        `its stem takes ${shape.inputChannels} channel(s)`,
      file,
      contents.layers[0]?.name,
      { cause: e },
    );
  }
  const stem = flavor === "contrib" ? "same" : "keras-applications";
  const bnEpsilon = facts?.epsilon ?? (flavor === "contrib" ? 1.1e-5 : 1.001e-5);
  const model = createDenseNet({ ...shape, inputSize, channels: 1, normalization, stem, bnEpsilon, name });
  try {
    const load = loadKerasLayers(model, contents.layers, file);
    const modelVersion = options.modelVersion ?? `${name}-keras-${md5.slice(0, 8)}`;
    await saveBundle(model, outDir, {
      classNames,
      modelVersion,
      metrics: {},
      architecture: {
        name,
        blocks: shape.blocks,
        growthRate: shape.growthRate,
        stemFilters: shape.stemFilters,
        inputSize,
        stem,
        bnEpsilon,
        input,
        keras: {
          flavor,
          layout: contents.layout,
          mapping: load.mapping,
          unwrapped,
        },
      },
      weights: { init: "keras", file: basename(file), md5, loaded: load.loaded, missing: [] },
    });
    const written = await writeBundleOnnx(outDir, { model });
    const check = checkImages > 0 ? await checkBundleOnnx(outDir, { images: checkImages }) : null;
    if (check && !(check.maxAbsDiff <= 1e-5)) {
      await rm(written.path, { force: true });
      throw new KerasModelImportError(
        `Cannot import Keras model "${file}": ONNX Runtime and tfjs disagree by ${check.maxAbsDiff} (> 1e-5) ` +
          `on the exported model; removed ${written.path}`,
        file,
      );
    }
    return {
      bundle: outDir,
      file,
      md5,
      layout: contents.layout,
      kerasVersion: contents.kerasVersion,
      unwrapped,
      flavor,
      flavorFrom,
      mapping: load.mapping,
      input,
      name,
      modelVersion,
      blocks: shape.blocks,
      growthRate: shape.growthRate,
      inputSize,
      classNames,
      loaded: load.loaded,
      unused: load.unused,
      onnx: { ...written, check },
    };
  } finally {
    model.dispose();
  }
}
