/**
 * The project's own ONNX exporter for the layer set `createDenseNet` emits (no Python, no ONNX npm package):
 * a tfjs-layers model becomes an opset-13 ONNX graph with input `image` (NHWC float `[N, S, S, C]`, raw
 * 0..255, dynamic batch), output `probabilities` `[N, classes]` and, for a pooling + Dense head, `cam`
 * `[N, h, w, classes]` (the same class activation maps as the tfjs predictor: the pooling layer's input times
 * the Dense kernel, no bias). Inside, the image is transposed once to NCHW.
 *
 * @module
 */
import { writeAtomic } from "../write_atomic.ts";
import { join } from "node:path";
import { loadBundle, readBundleMetadata } from "./bundle.ts";
import { openPredictor } from "./predictor.ts";
import { MODEL_ONNX } from "./predictor_contract.ts";
import { tfl } from "./tf.ts";
import { graph, model as modelProto, valueInfo } from "./_onnx_proto.ts";
import { type Config, convertLayer, GraphBuilder, OnnxExportError, refuse } from "./_onnx_layers.ts";
import { one } from "./_one.ts";

export { ONNX_LAYER_CLASSES, OnnxExportError } from "./_onnx_layers.ts";

/** Opset the exporter writes. */
export const ONNX_OPSET = 13;

/** Options for {@link exportOnnx}. */
export interface ExportOnnxOptions {
  /** Add the `cam` output when the model ends in GlobalAveragePooling2D -> Dense. @default true */
  cam?: boolean;
  /** Strings stored in the ONNX file's metadata_props (e.g. modelVersion, classNames). @default {} */
  metadata?: Record<string, string>;
}

/**
 * Converts a tfjs-layers model (as `createDenseNet` builds it) to an ONNX model file.
 *
 * @param model a single-input, single-output functional model taking NHWC images, ending in `[batch, classes]`.
 * @returns the bytes of the `.onnx` file.
 * @throws {OnnxExportError} naming the first layer (and class) that cannot be converted.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend, tfl } from "./mod.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const bytes = await exportOnnx(model, { metadata: { modelVersion: "v1" } });
 * assert.ok(bytes.length > 1000);
 * const input = tfl.input({ shape: [8, 8, 1] });
 * let x = tfl.layers.dropout({ rate: 0.5, name: "drop" }).apply(input) as tfl.SymbolicTensor;
 * x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
 * const other = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2 }).apply(x) as tfl.SymbolicTensor });
 * await assert.rejects(exportOnnx(other), /cannot export layer "drop" \(class Dropout\)/);
 * ```
 */
export async function exportOnnx(
  model: tfl.LayersModel,
  options: ExportOnnxOptions = {},
): Promise<Uint8Array> {
  const [input, ...moreInputs] = model.inputs, [output, ...moreOutputs] = model.outputs;
  if (!input || !output || moreInputs.length > 0 || moreOutputs.length > 0) {
    throw new OnnxExportError(
      `exportOnnx: only models with one input and one output can be exported, "${model.name}" has ` +
        `${model.inputs.length} and ${model.outputs.length}`,
      "",
      "",
    );
  }
  const inShape = input.shape as number[];
  const outShape = output.shape as number[];
  if (inShape.length !== 4 || outShape.length !== 2) {
    throw new OnnxExportError(
      `exportOnnx: expected an image input [batch, height, width, channels] and an output [batch, classes]; ` +
        `"${model.name}" has [${inShape}] and [${outShape}]`,
      "",
      "",
    );
  }
  const [, height, width, channels] = inShape as [number, number, number, number];
  const classes = outShape[1] as number;
  const g = new GraphBuilder();
  g.bind(input, g.add("Transpose", ["image"], "image/nchw", { perm: [0, 3, 1, 2] }));
  for (const layer of model.layers) {
    if (layer.inboundNodes.length !== 1) refuse(layer, "a layer applied more than once");
    if (layer.getClassName() === "InputLayer") continue;
    const inputs = [layer.input].flat() as tfl.SymbolicTensor[];
    let y: string;
    if (layer.getClassName() === "Concatenate") {
      const axis = (layer.getConfig() as Config).axis as number;
      if (![3, -1].includes(axis) || inputs[0]?.shape.length !== 4) {
        refuse(layer, `axis ${axis} (only channels)`);
      }
      y = g.add("Concat", inputs.map((t) => g.name(t)), layer.name, { axis: 1 });
    } else {
      const [x] = inputs;
      if (!x || inputs.length !== 1) refuse(layer, `${inputs.length} inputs`);
      y = await convertLayer(g, layer, g.name(x), x.shape as number[]);
    }
    g.bind(one(layer.output) as tfl.SymbolicTensor, y);
  }
  g.add("Identity", [g.name(output)], "probabilities");
  const outputs = [valueInfo("probabilities", ["N", classes])];
  const last = model.layers.at(-1);
  const pool = last?.getClassName() === "Dense" ? last.inboundNodes[0]?.inboundLayers[0] : undefined;
  if (last && (options.cam ?? true) && pool?.getClassName() === "GlobalAveragePooling2D") {
    const features = pool.input as tfl.SymbolicTensor;
    const [, h, w] = features.shape as [number, number, number, number];
    const nhwc = g.add("Transpose", [g.name(features)], "cam/features", { perm: [0, 2, 3, 1] });
    g.add("MatMul", [nhwc, `${last.name}/kernel`], "cam");
    outputs.push(valueInfo("cam", ["N", h, w, classes]));
  }
  const image = valueInfo("image", ["N", height, width, channels]);
  return modelProto(graph(model.name, g.nodes, g.initializers, [image], outputs), {
    opset: ONNX_OPSET,
    irVersion: 7,
    producer: "cxr-tools",
    version: `tfjs-layers ${tfl.version_layers}`,
    metadata: options.metadata ?? {},
  });
}

/** Options for {@link writeBundleOnnx}. */
export interface WriteBundleOnnxOptions {
  /** The bundle's model when already in memory (saves loading it again); not disposed. */
  model?: tfl.LayersModel;
}

/**
 * Exports a bundle's model to `<dir>/model.onnx`, atomically (temporary file, then rename). The file carries
 * the bundle's modelVersion and class names in its metadata. Saving the bundle again (`saveBundle` replaces
 * the folder) drops it, so a `model.onnx` never outlives the weights it came from.
 *
 * @returns the path written and its size.
 * @throws {OnnxExportError}; the bundle's own load errors.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, saveBundle, selectBackend } from "./mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync() + "/b";
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * await saveBundle(model, dir);
 * model.dispose();
 * const { path, bytes } = await writeBundleOnnx(dir);
 * assert.ok(path.endsWith("model.onnx") && bytes > 1000);
 * ```
 */
export async function writeBundleOnnx(
  dir: string,
  options: WriteBundleOnnxOptions = {},
): Promise<{ path: string; bytes: number }> {
  const metadata = await readBundleMetadata(dir);
  const model = options.model ?? (await loadBundle(dir, { expectedClasses: metadata.classNames })).model;
  try {
    const bytes = await exportOnnx(model, {
      metadata: { modelVersion: metadata.modelVersion, classNames: JSON.stringify(metadata.classNames) },
    });
    const path = join(dir, MODEL_ONNX);
    await writeAtomic(path, bytes);
    return { path, bytes: bytes.length };
  } finally {
    if (!options.model) model.dispose();
  }
}

/** Result of {@link checkBundleOnnx}. */
export interface OnnxCheck {
  /** Images compared. */
  images: number;
  /** Largest absolute difference between the engines' probabilities. */
  maxAbsDiff: number;
}

/**
 * Scores the same seeded random images with the bundle's tfjs model and its `model.onnx` and reports the
 * largest difference of the probabilities (they should agree to 1e-5).
 *
 * @param dir a bundle folder with `model.onnx`.
 * @param options how many images (default 2) and the seed (default 1).
 * @throws {RangeError} for a bad image count; the engines' open errors.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, saveBundle, selectBackend } from "./mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync() + "/b";
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * await saveBundle(model, dir);
 * await writeBundleOnnx(dir, { model });
 * assert.ok((await checkBundleOnnx(dir)).maxAbsDiff <= 1e-5);
 * ```
 */
export async function checkBundleOnnx(
  dir: string,
  options: { images?: number; seed?: number } = {},
): Promise<OnnxCheck> {
  const n = options.images ?? 2;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`checkBundleOnnx: images must be >= 1, got ${n}`);
  const tfjs = await openPredictor(dir, { engine: "tfjs" });
  try {
    const onnx = await openPredictor(dir, { engine: "onnx" });
    try {
      const { inputSize, channels } = tfjs.metadata;
      const pixels = new Uint8Array(n * inputSize * inputSize * channels);
      let state = (options.seed ?? 1) >>> 0;
      for (let i = 0; i < pixels.length; i++) {
        state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
        pixels[i] = state >>> 24;
      }
      const [a, b] = await Promise.all([tfjs.predict(pixels, n), onnx.predict(pixels, n)]);
      const maxAbsDiff = a.probabilities.reduce(
        (m, v, i) => Math.max(m, Math.abs(v - (b.probabilities[i] ?? NaN))),
        0,
      );
      return { images: n, maxAbsDiff };
    } finally {
      await onnx.dispose();
    }
  } finally {
    await tfjs.dispose();
  }
}
