// A minimal protobuf writer for the ONNX messages the exporter emits (onnx/onnx.proto, proto2 field numbers).
// Private to lib/model: `onnx_export.ts` is its only user.

/** Grows a byte buffer and writes protobuf wire-format values into it. */
class Writer {
  #buf = new Uint8Array(256);
  #len = 0;

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    this.#reserve(10);
    while (v >= 0x80n) {
      this.#buf[this.#len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buf[this.#len++] = Number(v);
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  bytes(data: Uint8Array): void {
    this.varint(data.length);
    this.#reserve(data.length);
    this.#buf.set(data, this.#len);
    this.#len += data.length;
  }

  float32(value: number): void {
    this.#reserve(4);
    new DataView(this.#buf.buffer).setFloat32(this.#len, value, true);
    this.#len += 4;
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** One message under construction; field helpers return `this` for chaining. */
export class Message {
  #w = new Writer();

  int(field: number, value: number | bigint): this {
    this.#w.tag(field, 0);
    this.#w.varint(value);
    return this;
  }

  ints(field: number, values: readonly number[]): this {
    for (const v of values) this.int(field, v);
    return this;
  }

  float(field: number, value: number): this {
    this.#w.tag(field, 5);
    this.#w.float32(value);
    return this;
  }

  floats(field: number, values: readonly number[]): this {
    for (const v of values) this.float(field, v);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.#w.tag(field, 2);
    this.#w.bytes(data);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: Message): this {
    return this.bytes(field, value.finish());
  }

  messages(field: number, values: readonly Message[]): this {
    for (const v of values) this.message(field, v);
    return this;
  }

  finish(): Uint8Array {
    return this.#w.finish();
  }
}

/** ONNX TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** An attribute value: int, float, ints, floats or string. */
export type AttributeValue = number | readonly number[] | string | { float: number } | { floats: number[] };

/** AttributeProto: name=1, f=2, i=3, s=4, floats=7, ints=8, type=20. */
export function attribute(name: string, value: AttributeValue): Message {
  const m = new Message().string(1, name);
  if (typeof value === "string") return m.string(4, value).int(20, 3);
  if (typeof value === "number") return m.int(3, value).int(20, 2);
  if ("float" in value) return m.float(2, value.float).int(20, 1);
  if ("floats" in value) return m.floats(7, value.floats).int(20, 6);
  return m.ints(8, value as number[]).int(20, 7);
}

/** NodeProto: input=1, output=2, name=3, op_type=4, attribute=5. */
export function node(
  op: string,
  inputs: readonly string[],
  outputs: readonly string[],
  name: string,
  attributes: Record<string, AttributeValue> = {},
): Message {
  const m = new Message();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  m.string(3, name).string(4, op);
  for (const [k, v] of Object.entries(attributes)) m.message(5, attribute(k, v));
  return m;
}

/** TensorProto: dims=1, data_type=2, name=8, raw_data=9 (little endian). */
export function tensor(name: string, dims: readonly number[], values: Float32Array | BigInt64Array): Message {
  const type = values instanceof Float32Array ? DataType.FLOAT : DataType.INT64;
  const raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return new Message().ints(1, dims).int(2, type).string(8, name).bytes(9, raw);
}

/** ValueInfoProto of a float tensor; a string dimension is symbolic (dim_param), a number fixed (dim_value). */
export function valueInfo(name: string, dims: readonly (number | string)[]): Message {
  const shape = new Message();
  for (const d of dims) {
    shape.message(1, typeof d === "string" ? new Message().string(2, d) : new Message().int(1, d));
  }
  const tensorType = new Message().int(1, DataType.FLOAT).message(2, shape);
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

/** GraphProto: node=1, name=2, initializer=5, input=11, output=12. */
export function graph(
  name: string,
  nodes: readonly Message[],
  initializers: readonly Message[],
  inputs: readonly Message[],
  outputs: readonly Message[],
): Message {
  return new Message().messages(1, nodes).string(2, name).messages(5, initializers).messages(11, inputs)
    .messages(12, outputs);
}

/** ModelProto: ir_version=1, producer_name=2, producer_version=3, graph=7, opset_import=8, metadata_props=14. */
export function model(
  g: Message,
  options: {
    opset: number;
    irVersion: number;
    producer: string;
    version: string;
    metadata: Record<string, string>;
  },
): Uint8Array {
  const m = new Message().int(1, options.irVersion).string(2, options.producer).string(3, options.version)
    .message(7, g).message(8, new Message().string(1, "").int(2, options.opset));
  for (const [key, value] of Object.entries(options.metadata)) {
    m.message(14, new Message().string(1, key).string(2, value));
  }
  return m.finish();
}
