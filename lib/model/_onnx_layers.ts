// Converting one tfjs-layers layer into ONNX nodes (NCHW inside the graph); private to lib/model, used by
// `onnx_export.ts`, which re-exports the two public names below.
import { Normalize } from "./normalize.ts";
import { tf, tfl } from "./tf.ts";
import { type AttributeValue, node, tensor } from "./_onnx_proto.ts";
import { ModelError } from "./errors.ts";

/**
 * The layer classes `exportOnnx` converts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(ONNX_LAYER_CLASSES.includes("Conv2D"));
 * ```
 */
export const ONNX_LAYER_CLASSES = [
  "InputLayer",
  "CxrNormalize",
  "ZeroPadding2D",
  "Conv2D",
  "BatchNormalization",
  "Activation",
  "MaxPooling2D",
  "AveragePooling2D",
  "Concatenate",
  "GlobalAveragePooling2D",
  "Dense",
] as const;

/**
 * A model cannot be exported: an unsupported layer or configuration; `layer` and `className` name it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new OnnxExportError("no", "drop", "Dropout");
 * assert.equal(e.className, "Dropout");
 * ```
 */
export class OnnxExportError extends ModelError {
  /**
   * @param layer The layer's name, or `""` for a model-level problem.
   * @param className The layer's class name, or `""`.
   */
  constructor(message: string, readonly layer: string, readonly className: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** A layer's `getConfig()`. */
export type Config = Record<string, unknown>;
/** A tfjs size or stride that may be one number or a pair, as a pair. */
export const pair = (v: unknown): [number, number] =>
  Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [v as number, v as number];

/** TF "same" padding for one spatial axis: [before, after], the extra pixel after. */
export function same(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const total = Math.max((Math.ceil(size / stride) - 1) * stride + effective - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Collects nodes and initializers and maps tfjs symbolic tensors to ONNX value names. */
export class GraphBuilder {
  nodes: ReturnType<typeof node>[] = [];
  initializers: ReturnType<typeof tensor>[] = [];
  #names = new Map<number, string>();
  #count = 0;

  /** How many nodes `add` has made: the next one is named `<op>_<count>`. */
  get count(): number {
    return this.#count;
  }

  add(op: string, inputs: string[], output: string, attributes: Record<string, AttributeValue> = {}): string {
    this.nodes.push(node(op, inputs, [output], `${op}_${this.#count++}`, attributes));
    return output;
  }

  async weight(name: string, t: tf.Tensor, transpose?: number[]): Promise<string> {
    const v = transpose ? tf.transpose(t, transpose) : t;
    this.initializers.push(tensor(name, v.shape, new Float32Array(await v.data())));
    if (v !== t) v.dispose();
    return name;
  }

  constant(name: string, dims: number[], values: Float32Array | BigInt64Array): string {
    this.initializers.push(tensor(name, dims, values));
    return name;
  }

  bind(t: tfl.SymbolicTensor, name: string): void {
    this.#names.set(t.id, name);
  }

  name(t: tfl.SymbolicTensor): string {
    const n = this.#names.get(t.id);
    if (n === undefined) throw new Error(`exportOnnx: tensor ${t.name} used before it is computed`);
    return n;
  }
}

/** Throws {@link OnnxExportError} naming the layer, its class and what is unsupported. */
export function refuse(layer: tfl.layers.Layer, what: string): never {
  throw new OnnxExportError(
    `exportOnnx: cannot export layer "${layer.name}" (class ${layer.getClassName()}): ${what}`,
    layer.name,
    layer.getClassName(),
  );
}

const ACTIVATIONS: Record<string, string> = { relu: "Relu", sigmoid: "Sigmoid", tanh: "Tanh" };

function activation(g: GraphBuilder, layer: tfl.layers.Layer, x: string, activation: unknown): string {
  if (activation === undefined || activation === null || activation === "linear") return x;
  const op = ACTIVATIONS[activation as string];
  if (!op) refuse(layer, `activation "${activation}" (supported: linear, ${Object.keys(ACTIVATIONS)})`);
  return g.add(op, [x], `${layer.name}/${activation}`);
}

function layerWeights(layer: tfl.layers.Layer): Map<string, tf.Tensor> {
  const values = layer.getWeights();
  return new Map(values.map((v, i) => [layer.weights[i]?.originalName.split("/").pop() ?? `${i}`, v]));
}

/** Adds the nodes of one single-input layer whose input is value `x` of NHWC shape `inShape`; returns its output value. */
export async function convertLayer(
  g: GraphBuilder,
  layer: tfl.layers.Layer,
  x: string,
  inShape: number[],
): Promise<string> {
  const cls = layer.getClassName();
  const config = layer.getConfig() as Config;
  const out = layer.name;
  if ("dataFormat" in config && config.dataFormat !== "channelsLast") {
    refuse(layer, `dataFormat "${config.dataFormat}" (only channelsLast)`);
  }
  const spatial = () => inShape.slice(1, 3) as [number, number];
  if (cls === "CxrNormalize") {
    const { inputScale, mean, std } = (layer as Normalize).normalization;
    const c = mean.length;
    const mul = g.constant(
      `${out}/mul`,
      [1, c, 1, 1],
      Float32Array.from(std.map((s) => 1 / (inputScale * s))),
    );
    const add = g.constant(`${out}/add`, [1, c, 1, 1], Float32Array.from(mean.map((m, i) => -m / std[i]!)));
    return g.add("Add", [g.add("Mul", [x, mul], `${out}/scaled`), add], out);
  }
  if (cls === "ZeroPadding2D") {
    const [[t, b], [l, r]] = config.padding as [[number, number], [number, number]];
    const pads = g.constant(`${out}/pads`, [8], BigInt64Array.from([0, 0, t, l, 0, 0, b, r].map(BigInt)));
    return g.add("Pad", [x, pads], out);
  }
  if (cls === "Conv2D") {
    const [kh, kw] = pair(config.kernelSize);
    const strides = pair(config.strides);
    const dilations = pair(config.dilationRate ?? 1);
    let pads = [0, 0, 0, 0];
    if (config.padding === "same") {
      const [h, w] = spatial();
      const [t, b] = same(h, kh, strides[0], dilations[0]);
      const [l, r] = same(w, kw, strides[1], dilations[1]);
      pads = [t, l, b, r];
    } else if (config.padding !== "valid") refuse(layer, `padding "${config.padding}"`);
    const weights = layerWeights(layer);
    const inputs = [x, await g.weight(`${out}/kernel`, weights.get("kernel")!, [3, 2, 0, 1])];
    if (config.useBias) inputs.push(await g.weight(`${out}/bias`, weights.get("bias")!));
    const y = g.add("Conv", inputs, `${out}/conv`, { kernel_shape: [kh, kw], strides, dilations, pads });
    return activation(g, layer, y, config.activation);
  }
  if (cls === "BatchNormalization") {
    if (![3, -1].includes(config.axis as number)) {
      refuse(layer, `axis ${config.axis} (only the channel axis)`);
    }
    const w = layerWeights(layer);
    const mean = w.get("moving_mean")!;
    const c = mean.shape[0];
    const gamma = w.get("gamma") ?? tf.ones([c]);
    const beta = w.get("beta") ?? tf.zeros([c]);
    const inputs = [x];
    for (const [k, t] of [["gamma", gamma], ["beta", beta], ["moving_mean", mean]] as const) {
      inputs.push(await g.weight(`${out}/${k}`, t));
    }
    inputs.push(await g.weight(`${out}/moving_variance`, w.get("moving_variance")!));
    if (!w.has("gamma")) gamma.dispose();
    if (!w.has("beta")) beta.dispose();
    return g.add("BatchNormalization", inputs, out, { epsilon: { float: config.epsilon as number } });
  }
  if (cls === "Activation") return activation(g, layer, x, config.activation);
  if (cls === "MaxPooling2D" || cls === "AveragePooling2D") {
    const kernel = pair(config.poolSize);
    const strides = pair(config.strides ?? kernel);
    let pads = [0, 0, 0, 0];
    if (config.padding === "same") {
      const [h, w] = spatial();
      const [t, b] = same(h, kernel[0], strides[0]);
      const [l, r] = same(w, kernel[1], strides[1]);
      pads = [t, l, b, r];
    } else if (config.padding !== "valid") refuse(layer, `padding "${config.padding}"`);
    const op = cls === "MaxPooling2D" ? "MaxPool" : "AveragePool";
    return g.add(op, [x], out, { kernel_shape: kernel, strides, pads });
  }
  if (cls === "GlobalAveragePooling2D") {
    if (config.keepDims) refuse(layer, "keepDims");
    return g.add("Flatten", [g.add("GlobalAveragePool", [x], `${out}/pool`)], out, { axis: 1 });
  }
  if (cls === "Dense") {
    if (inShape.length !== 2) refuse(layer, `input of rank ${inShape.length} (only [batch, features])`);
    const w = layerWeights(layer);
    const inputs = [x, await g.weight(`${out}/kernel`, w.get("kernel")!)];
    if (config.useBias) inputs.push(await g.weight(`${out}/bias`, w.get("bias")!));
    return activation(g, layer, g.add("Gemm", inputs, `${out}/gemm`), config.activation);
  }
  return refuse(layer, `unsupported layer; supported: ${ONNX_LAYER_CLASSES.join(", ")}`);
}
