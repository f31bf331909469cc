// Writes Keras HDF5 weight files in the test itself (h5wasm), in the layouts Keras 2 / tf.keras produce:
// `save_weights(".h5")`, `model.save(".h5")` (under `model_weights`, with the root `model_config`), a nested
// backbone, a `multi_gpu_model` wrapper, chunked `layer_names`; and keras-contrib's DenseNet (auto-generated
// names, "same" stem, 3-channel input) built independently of densenet.ts. Shared by the tests of
// keras_import, keras_model_import, pretrained weights and training. Reads weights with dataSync: use it on
// the cpu or wasm backend.
import h5wasm from "h5wasm/node";
import { tf, tfl } from "./tf.ts";
import { setSeededWeights } from "./_testing.ts";
import { one } from "./_one.ts";

/** Call (and await) before {@link writeKerasH5}. */
export const h5Ready: Promise<unknown> = h5wasm.ready;

export interface KerasH5Layout {
  /** Put everything under `model_weights` (as `model.save("x.h5")` does). */
  fullModel?: boolean;
  /** Store the backbone as one nested-model layer of this name (head stays a top-level layer). */
  nested?: string;
  /** Layers left out of the file. */
  drop?: string[];
  /** Extra top-level layer with one weight nobody uses. */
  extra?: boolean;
  /** Split `layer_names` into `layer_names0`, `layer_names1` (as Keras does past 64 KB). */
  chunked?: boolean;
  /**
   * Wrap the whole model as `keras.utils.multi_gpu_model` saves it: top-level `input_1`, `lambda_1`,
   * `lambda_2`, the model as the nested layer `model_1`, and a Concatenate named like the model's output layer;
   * with `fullModel`, the matching `model_config`.
   */
  multiGpu?: boolean;
  /** Write the root `model_config` (the model's Keras config) and `keras_version`; implies `fullModel`. */
  modelConfig?: boolean;
  /** Weights (by tfjs originalName, e.g. `conv2d_6/kernel`) written with another shape, filled with zeros. */
  misshape?: Record<string, number[]>;
  /**
   * Store each weight under another name (e.g. Theano-era `conv1_W`, or a session-uniquified
   * `conv1/conv_1/kernel`), keeping the layer groups and their order, as older Keras files do.
   */
  renameWeight?: (originalName: string, index: number) => string;
}

// deno-lint-ignore no-explicit-any
export function h5Group(parent: any, path: string): any {
  let g = parent;
  for (const part of path.split("/")) g = g.keys().includes(part) ? g.get(part) : g.create_group(part);
  return g;
}

/** A string-array attribute as h5py writes Keras' (fixed-length byte strings, `|S<n>`). */
// deno-lint-ignore no-explicit-any
export function h5Strings(g: any, name: string, values: string[]): void {
  if (values.length === 0) g.create_attribute(name, []);
  else g.create_attribute(name, values, [values.length], `S${Math.max(...values.map((v) => v.length))}`);
}

/** Writes `model`'s weights the way Keras 2 / tf.keras `save_weights(".h5")` (or `model.save`) lays them out. */
export function writeKerasH5(model: tfl.LayersModel, file: string, layout: KerasH5Layout = {}): void {
  const h5 = new h5wasm.File(file, "w");
  const full = layout.fullModel || layout.modelConfig;
  const root = full ? h5.create_group("model_weights") : h5;
  const layers = model.layers.filter((l) => !(layout.drop ?? []).includes(l.name));
  const write = (g: ReturnType<typeof h5Group>, weights: tfl.LayerVariable[]) => {
    const stored = weights.map((w, i) => layout.renameWeight?.(w.originalName, i) ?? w.originalName);
    h5Strings(g, "weight_names", stored.map((n) => `${n}:0`));
    for (const [i, w] of weights.entries()) {
      const shape = layout.misshape?.[w.originalName] ?? w.shape as number[];
      const values = layout.misshape?.[w.originalName]
        ? new Float32Array(shape.reduce((a, b) => a * b, 1))
        : w.read().dataSync() as Float32Array;
      const name = stored[i] ?? w.originalName;
      const slash = name.lastIndexOf("/");
      (slash < 0 ? g : h5Group(g, name.slice(0, slash)))
        .create_dataset({ name: `${name.slice(slash + 1)}:0`, data: values, shape });
    }
  };
  // A nested model's weights: trainable ones of every layer first, then the non-trainable ones (Keras' order).
  const nestedWeights = (ls: tfl.layers.Layer[]) => [
    ...ls.flatMap((l) => l.trainableWeights),
    ...ls.flatMap((l) => l.nonTrainableWeights),
  ];
  const outputName = model.layers.at(-1)?.name ?? "predictions";
  const wrapper = ["input_1", "lambda_1", "lambda_2"];
  const top = layout.nested ? layers.filter((l) => l.name === "predictions") : layout.multiGpu ? [] : layers;
  const names = [
    ...(layout.multiGpu ? [...wrapper, "model_1", outputName] : []),
    ...(layout.nested ? [layout.nested] : []),
    ...top.map((l) => l.name),
    ...(layout.extra ? ["extra"] : []),
  ];
  if (layout.chunked) {
    h5Strings(root, "layer_names0", names.slice(0, 1));
    h5Strings(root, "layer_names1", names.slice(1));
  } else h5Strings(root, "layer_names", names);
  if (layout.multiGpu) {
    for (const name of [...wrapper, outputName]) h5Strings(h5Group(root, name), "weight_names", []);
    write(h5Group(root, "model_1"), nestedWeights(layers));
  }
  if (layout.nested) {
    write(h5Group(root, layout.nested), nestedWeights(layers.filter((l) => l.name !== "predictions")));
  }
  for (const l of top) write(h5Group(root, l.name), l.weights);
  if (layout.extra) {
    const g = h5Group(root, "extra");
    h5Strings(g, "weight_names", ["extra/kernel:0"]);
    h5Group(g, "extra").create_dataset({ name: "kernel:0", data: new Float32Array([1, 2]), shape: [2] });
  }
  if (layout.modelConfig) {
    const config = layout.multiGpu ? multiGpuConfig(model) : model.toJSON(null, false);
    h5.create_attribute("model_config", JSON.stringify(config));
    h5.create_attribute("keras_version", "2.1.6");
    h5.create_attribute("backend", "tensorflow");
  }
  h5.close();
}

/** The Keras config `keras.utils.multi_gpu_model(model, gpus=2)` saves: slices in, model twice, concatenated. */
export function multiGpuConfig(model: tfl.LayersModel): Record<string, unknown> {
  const inner = model.toJSON(null, false) as { class_name: string; config: Record<string, unknown> };
  const shape = one(model.inputs).shape;
  const outputName = model.layers.at(-1)?.name ?? "predictions";
  const lambda = (name: string, i: number) => ({
    name,
    class_name: "Lambda",
    config: {
      name,
      function: ["get_slice", null, null],
      arguments: { i, parts: 2 },
      output_shape: shape.slice(1),
    },
    inbound_nodes: [[["input_1", 0, 0, {}]]],
  });
  return {
    class_name: "Model",
    config: {
      name: "model_2",
      layers: [
        {
          name: "input_1",
          class_name: "InputLayer",
          config: { batch_input_shape: shape, dtype: "float32", sparse: false, name: "input_1" },
          inbound_nodes: [],
        },
        lambda("lambda_1", 0),
        lambda("lambda_2", 1),
        {
          name: "model_1",
          class_name: inner.class_name,
          config: { ...inner.config, name: "model_1" },
          inbound_nodes: [[["lambda_1", 0, 0, {}]], [["lambda_2", 0, 0, {}]]],
        },
        {
          name: outputName,
          class_name: "Concatenate",
          config: { name: outputName, trainable: true, axis: 0 },
          inbound_nodes: [[["model_1", 1, 0, {}], ["model_1", 2, 0, {}]]],
        },
      ],
      input_layers: [["input_1", 0, 0]],
      output_layers: [[outputName, 0, 0]],
    },
  };
}

/** Sizes of {@link createContribDenseNet}. */
export interface ContribDenseNetOptions {
  /** Conv blocks per dense block. @default [2, 2] */
  blocks?: number[];
  /** Growth rate. @default 4 */
  growthRate?: number;
  /** Input height and width. @default 32 */
  inputSize?: number;
  /** Head units. @default 14 */
  classes?: number;
  /** Head activation. @default "sigmoid" */
  activation?: "sigmoid" | "softmax";
  /**
   * Seeded weights (`setSeededWeights`), the stem's divided by 255 as training on 0..255 input would leave
   * them, so outputs are not saturated. @default tfjs' random initialisation
   */
  seed?: number;
}

/**
 * keras-contrib's `DenseNetImageNet121` layout (Sept. 2017, as the seed trained it) with small sizes, written
 * here from its source rather than from densenet.ts: Keras 2's auto-generated names (`conv2d_1`,
 * `batch_normalization_1`, `activation_1`, `max_pooling2d_1`, `concatenate_1`, `average_pooling2d_1`,
 * `global_average_pooling2d_1`, `dense_1`), 3-channel input `input_1` fed 0..255 with no normalisation,
 * 7x7/2 conv with "same" padding, BN epsilon 1.1e-5, 3x3/2 max pool "same", bottleneck conv blocks,
 * transitions with compression 0.5 and 2x2 average pooling, a sigmoid Dense head.
 */
export function createContribDenseNet(options: ContribDenseNetOptions = {}): tfl.LayersModel {
  const k = options.growthRate ?? 4;
  const counts = new Map<string, number>();
  const auto = (kind: string) => `${kind}_${counts.set(kind, (counts.get(kind) ?? 0) + 1).get(kind)}`;
  const apply = (layer: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]) =>
    layer.apply(x) as tfl.SymbolicTensor;
  const conv = (x: tfl.SymbolicTensor, filters: number, kernelSize: number, strides = 1) => {
    const config = { filters, kernelSize, strides, padding: "same", useBias: false } as const;
    return apply(tfl.layers.conv2d({ ...config, name: auto("conv2d") }), x);
  };
  const bnRelu = (x: tfl.SymbolicTensor) => {
    const relu = tfl.layers.activation({ activation: "relu", name: auto("activation") });
    const bn = tfl.layers.batchNormalization({ axis: 3, epsilon: 1.1e-5, name: auto("batch_normalization") });
    return apply(relu, apply(bn, x));
  };
  const size = options.inputSize ?? 32;
  const input = tfl.input({ shape: [size, size, 3], name: "input_1" });
  let x = bnRelu(conv(input, 2 * k, 7, 2));
  const pool = tfl.layers.maxPooling2d({
    poolSize: 3,
    strides: 2,
    padding: "same",
    name: auto("max_pooling2d"),
  });
  x = apply(pool, x);
  const blocks = options.blocks ?? [2, 2];
  blocks.forEach((count, b) => {
    for (let i = 0; i < count; i++) {
      const y = conv(bnRelu(conv(bnRelu(x), 4 * k, 1)), k, 3);
      x = apply(tfl.layers.concatenate({ axis: -1, name: auto("concatenate") }), [x, y]);
    }
    if (b < blocks.length - 1) {
      x = conv(bnRelu(x), Math.floor((x.shape[3] as number) * 0.5), 1);
      x = apply(tfl.layers.averagePooling2d({ poolSize: 2, strides: 2, name: auto("average_pooling2d") }), x);
    }
  });
  x = apply(tfl.layers.globalAveragePooling2d({ name: auto("global_average_pooling2d") }), bnRelu(x));
  const activation = options.activation ?? "sigmoid";
  x = apply(tfl.layers.dense({ units: options.classes ?? 14, activation, name: auto("dense") }), x);
  const model = tfl.model({ inputs: input, outputs: x, name: "densenet" });
  if (options.seed !== undefined) {
    setSeededWeights(model, options.seed);
    const stem = model.getLayer("conv2d_1");
    stem.setWeights(stem.getWeights().map((w) => tf.div(w, 255)));
  }
  return model;
}
