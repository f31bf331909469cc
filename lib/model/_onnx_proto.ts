// The ONNX messages the exporter emits, built as plain objects and encoded by `onnx-proto` (protobufjs-generated
// from onnx/onnx.proto). Private to lib/model: `onnx_export.ts` and `_onnx_layers.ts` are its users.
import type { onnx as Onnx } from "onnx-proto";
import onnxProto from "onnx-proto";

/** The package's message classes (CommonJS: Deno does not see `onnx` as a named export). */
export const onnx = (onnxProto as unknown as { onnx: typeof Onnx }).onnx;

/** An attribute value: int, float, ints, floats or string. */
export type AttributeValue = number | readonly number[] | string | { float: number } | { floats: number[] };

const { AttributeType } = onnx.AttributeProto;
const { DataType } = onnx.TensorProto;

/** AttributeProto of one name and value; a plain number is an int, `{ float }` a float. */
export function attribute(name: string, value: AttributeValue): Onnx.IAttributeProto {
  if (typeof value === "string") {
    return { name, s: new TextEncoder().encode(value), type: AttributeType.STRING };
  }
  if (typeof value === "number") return { name, i: value, type: AttributeType.INT };
  if ("float" in value) return { name, f: value.float, type: AttributeType.FLOAT };
  if ("floats" in value) return { name, floats: value.floats, type: AttributeType.FLOATS };
  return { name, ints: [...value as number[]], type: AttributeType.INTS };
}

/** NodeProto of one operator. */
export function node(
  op: string,
  inputs: readonly string[],
  outputs: readonly string[],
  name: string,
  attributes: Record<string, AttributeValue> = {},
): Onnx.INodeProto {
  const attribute_ = Object.entries(attributes).map(([k, v]) => attribute(k, v));
  return { input: [...inputs], output: [...outputs], name, opType: op, attribute: attribute_ };
}

/** TensorProto whose values travel as little-endian raw_data. */
export function tensor(
  name: string,
  dims: readonly number[],
  values: Float32Array | BigInt64Array,
): Onnx.ITensorProto {
  const dataType = values instanceof Float32Array ? DataType.FLOAT : DataType.INT64;
  const rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return { name, dims: [...dims], dataType, rawData };
}

/** ValueInfoProto of a float tensor; a string dimension is symbolic (dim_param), a number fixed (dim_value). */
export function valueInfo(name: string, dims: readonly (number | string)[]): Onnx.IValueInfoProto {
  const dim = dims.map((d) => typeof d === "string" ? { dimParam: d } : { dimValue: d });
  return { name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim } } } };
}

/** GraphProto of nodes, initializers, inputs and outputs. */
export function graph(
  name: string,
  node: Onnx.INodeProto[],
  initializer: Onnx.ITensorProto[],
  input: Onnx.IValueInfoProto[],
  output: Onnx.IValueInfoProto[],
): Onnx.IGraphProto {
  return { node, name, initializer, input, output };
}

/** The encoded ModelProto of a graph, its default-domain opset and string metadata. */
export function model(
  graph: Onnx.IGraphProto,
  options: {
    opset: number;
    irVersion: number;
    producer: string;
    version: string;
    metadata: Record<string, string>;
  },
): Uint8Array {
  return onnx.ModelProto.encode({
    irVersion: options.irVersion,
    producerName: options.producer,
    producerVersion: options.version,
    graph,
    opsetImport: [{ domain: "", version: options.opset }],
    metadataProps: Object.entries(options.metadata).map(([key, value]) => ({ key, value })),
  }).finish();
}
