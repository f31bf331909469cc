/**
 * `deno task cxr import keras FILE.h5 --out BUNDLE`: a Keras HDF5 DenseNet with a 14-sigmoid head (whole-model
 * or weights-only, keras.applications or keras-contrib, wrapped by multi_gpu_model or not) becomes a model
 * bundle with `model.onnx`, which evaluate, cam, serve, score, `image build scoring` and deploy take as they
 * take a trained one.
 *
 * @module
 */
import {
  BACKENDS,
  importKerasModel,
  INPUT_CONVENTIONS,
  KERAS_FLAVORS,
  type KerasModelImportSummary,
  selectBackend,
} from "../model/mod.ts";
import {
  choiceOption,
  type Command,
  intOption,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";

/**
 * One line per fact of an import, for the terminal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = formatKerasImport({
 *   bundle: "b", file: "m.h5", md5: "0".repeat(32), layout: "whole-model", kerasVersion: "2.1.6",
 *   unwrapped: ["model_1"], flavor: "contrib", flavorFrom: "model_config", mapping: "order", input: "raw255",
 *   name: "densenet121", modelVersion: "densenet121-keras-00000000", blocks: [6, 12, 24, 16], growthRate: 32,
 *   inputSize: 224, classNames: ["a"], loaded: 606, unused: [],
 *   onnx: { path: "b/model.onnx", bytes: 28e6, check: { images: 2, maxAbsDiff: 1e-7 } },
 * });
 * assert.match(text, /unwrapped model_1/);
 * assert.match(text, /ONNX Runtime agrees with tfjs to 1\.0e-7/);
 * ```
 */
export function formatKerasImport(s: KerasModelImportSummary): string {
  const c = s.onnx.check;
  const check = c
    ? `; ONNX Runtime agrees with tfjs to ${c.maxAbsDiff.toExponential(1)} on ${c.images} images`
    : "";
  return [
    `Imported ${s.file} (${s.layout}${s.kerasVersion ? `, Keras ${s.kerasVersion}` : ""}, md5 ${s.md5})` +
    `${s.unwrapped.length ? `, unwrapped ${s.unwrapped.join(" > ")}` : ""}`,
    `  DenseNet blocks [${s.blocks}], growth ${s.growthRate}, ${s.classNames.length} classes; ` +
    `${s.flavor} (from ${s.flavorFrom}); ${s.loaded} weights mapped by ${s.mapping}` +
    `${s.unused.length ? `; unused: ${s.unused.join(", ")}` : ""}`,
    `  input ${s.input}, ${s.inputSize}x${s.inputSize} grey; model ${s.name}, version ${s.modelVersion}`,
    `Wrote ${s.bundle} and ${s.onnx.path} (${(s.onnx.bytes / 1e6).toFixed(1)} MB)${check}`,
  ].join("\n");
}

/**
 * The `import keras` command. With `--json` it prints the import summary (`KerasModelImportSummary`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(importKerasCommand.name, "import keras");
 * assert.equal(importKerasCommand.options.out?.required, true);
 * ```
 */
export const importKerasCommand: Command = {
  name: "import keras",
  summary: "Turn a Keras HDF5 DenseNet (model.save or save_weights) into a model bundle with model.onnx.",
  positionals: "FILE.h5",
  details:
    "Reads a DenseNet-121 with a 14-sigmoid head from a whole-model or weights-only Keras 2 / tf.keras " +
    "HDF5 file; a model nested in another (multi_gpu_model's wrapper, a nested backbone) is unwrapped. " +
    "Layers load by name when the names are keras.applications', else by topological order and weight " +
    "shapes (keras-contrib's auto-generated conv2d_1, batch_normalization_1, ...); a mismatch names the " +
    "first differing layer. keras-contrib's stem pads 'same' (no ZeroPadding2D) and its BatchNorm epsilon " +
    "is 1.1e-5: the bundle's model does the same. --input says what the model was fed and goes into the " +
    "bundle's normalisation: raw255 (0..255, no mean/std; the default for keras-contrib models) or imagenet " +
    "(0..1, ImageNet mean/std; the default for keras.applications). The bundle takes grey images, " +
    "replicated to the model's 3 channels. model.onnx is checked against tfjs (1e-5).",
  options: {
    out: { valueName: "DIR", description: "The bundle folder to write.", required: true },
    classes: {
      valueName: "A,B,...",
      description: "Class names in the head's order, comma-separated.",
      defaultText: "the 14 ChestX-ray14 findings",
    },
    input: {
      valueName: "CONV",
      description: `What the model was fed: ${INPUT_CONVENTIONS.join(", ")}.`,
      defaultText: "raw255 for keras-contrib, imagenet for keras.applications",
    },
    name: {
      valueName: "N",
      description: "Model name (the scoring API's model.name; prefixes the version).",
      defaultText: "densenet121",
    },
    flavor: {
      valueName: "F",
      description: `Where the model came from: ${KERAS_FLAVORS.join(", ")}.`,
      defaultText: "detected from model_config, else from the layer names",
    },
    size: {
      valueName: "N",
      description: "Input height and width.",
      defaultText: "the model_config's, else 224",
    },
    backend: {
      valueName: "NAME",
      description: `tfjs backend: auto, ${BACKENDS.join(", ")}.`,
      defaultText: "wasm",
    },
    "check-images": {
      valueName: "N",
      description: "Images to compare ONNX Runtime and tfjs on; 0 skips the check.",
      defaultText: "2",
    },
  },
  async run(values, ctx) {
    const [file] = ctx.positionals;
    if (file === undefined || ctx.positionals.length !== 1) {
      throw new UsageError(`expected one Keras file (FILE.h5), got ${ctx.positionals.length}`);
    }
    const out = stringOption(values, "out");
    const input = values.input === undefined ? undefined : choiceOption(values, "input", INPUT_CONVENTIONS);
    const flavor = values.flavor === undefined ? undefined : choiceOption(values, "flavor", KERAS_FLAVORS);
    const classes = values.classes === undefined
      ? undefined
      : stringOption(values, "classes").split(",").map((c) => c.trim());
    if (classes && classes.some((c) => c === "")) throw new UsageError("--classes has an empty class name");
    const name = values.name === undefined ? undefined : stringOption(values, "name");
    if (name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      throw new UsageError(`--name must be letters, digits, "_", "." or "-", got "${name}"`);
    }
    const inputSize = intOption(values, "size", { min: 32, max: 2048, optional: true });
    const checkImages = intOption(values, "check-images", { min: 0, max: 64, fallback: 2 });
    const backend = choiceOption(values, "backend", ["auto", ...BACKENDS] as const, "wasm");
    const selected = await selectBackend(backend);
    ctx.err(`backend: ${selected.name} (${selected.reason})`);
    const summary = await importKerasModel(file, out, {
      ...withoutUndefined({ classNames: classes, input, flavor, name, inputSize }),
      checkImages,
    });
    ctx.out(ctx.json ? JSON.stringify(summary) : formatKerasImport(summary));
  },
};
