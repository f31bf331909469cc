import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { selectBackend } from "./backend.ts";
import { saveBundle } from "./bundle.ts";
import { createDenseNet } from "./densenet.ts";
import { exportOnnx, OnnxExportError, writeBundleOnnx } from "./onnx_export.ts";
import { tf, tfl } from "./tf.ts";
import { onnx } from "./_onnx_proto.ts";
import { chain, seeded, setSeededWeights } from "./_testing.ts";

await selectBackend("cpu");

async function compare(model: tfl.LayersModel, n: number): Promise<number> {
  const shape = model.inputs[0]!.shape.slice(1) as number[];
  const size = shape.reduce((a, b) => a * b, 1);
  const pixels = Float32Array.from(seeded(n * size, 3, 0, 256), Math.floor);
  const session = await ort.InferenceSession.create(await exportOnnx(model));
  const out = await session.run({ image: new ort.Tensor("float32", pixels, [n, ...shape]) });
  await session.release();
  const x = tf.tensor(pixels, [n, ...shape]);
  const y = model.predict(x) as tf.Tensor;
  const expected = await y.data();
  tf.dispose([x, y]);
  const got = out.probabilities?.data as Float32Array;
  assert.equal(got.length, expected.length);
  return got.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0);
}

Deno.test("onnx protobuf: varints, negative int64, floats, packed repeats use the wire format", () => {
  const cases: [Uint8Array, number[]][] = [
    [onnx.TensorShapeProto.Dimension.encode({ dimValue: 300 }).finish(), [0x08, 0xac, 0x02]],
    [onnx.AttributeProto.encode({ i: -1 }).finish(), [0x18, ...Array(9).fill(0xff), 0x01]],
    [onnx.AttributeProto.encode({ f: 1 }).finish(), [0x15, 0, 0, 0x80, 0x3f]],
    [onnx.NodeProto.encode({ opType: "Relu" }).finish(), [0x22, 4, 0x52, 0x65, 0x6c, 0x75]],
    [onnx.TypeProto.encode({ tensorType: { elemType: 1 } }).finish(), [0x0a, 2, 0x08, 1]],
    [onnx.TensorProto.encode({ dims: [2, 3] }).finish(), [0x0a, 2, 2, 3]],
  ];
  for (const [bytes, expected] of cases) assert.deepEqual([...bytes], expected);
});

Deno.test("exportOnnx: a DenseNet with seeded weights runs in ONNX Runtime and matches tfjs", async () => {
  const model = createDenseNet({ blocks: [2, 3], growthRate: 6, inputSize: 40 });
  setSeededWeights(model, 2);
  const session = await ort.InferenceSession.create(await exportOnnx(model));
  assert.deepEqual(session.inputNames, ["image"]);
  assert.deepEqual(session.outputNames, ["probabilities", "cam"]);
  await session.release();
  assert.ok(await compare(model, 2) <= 1e-5);
  const withoutCam = await ort.InferenceSession.create(await exportOnnx(model, { cam: false }));
  assert.deepEqual(withoutCam.outputNames, ["probabilities"]);
  await withoutCam.release();
  model.dispose();
});

Deno.test("exportOnnx: same padding on odd sizes, strides, biases and activations match tfjs", async () => {
  const model = chain(
    tfl.input({ shape: [13, 11, 1], name: "image" }),
    tfl.layers.conv2d({ filters: 5, kernelSize: 3, strides: 2, padding: "same", activation: "relu" }),
    tfl.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: "same" }),
    tfl.layers.conv2d({ filters: 4, kernelSize: [2, 3], padding: "same", activation: "tanh" }),
    tfl.layers.averagePooling2d({ poolSize: 2, padding: "same" }),
    tfl.layers.batchNormalization({ center: false, scale: false }),
    tfl.layers.globalAveragePooling2d({}),
    tfl.layers.dense({ units: 3, activation: "sigmoid" }),
  );
  setSeededWeights(model, 8);
  assert.ok(await compare(model, 3) <= 1e-5);
  model.dispose();
});

Deno.test("exportOnnx: unsupported layers and settings are refused, naming layer and class", async () => {
  const input = tfl.input({ shape: [8, 8, 1] });
  const build = (layer: tfl.layers.Layer) =>
    chain(input, layer, tfl.layers.globalAveragePooling2d({}), tfl.layers.dense({ units: 2 }));
  const cases: [tfl.layers.Layer, RegExp][] = [
    [tfl.layers.dropout({ rate: 0.1, name: "drop" }), /layer "drop" \(class Dropout\): unsupported layer/],
    [
      tfl.layers.activation({ activation: "elu", name: "act" }),
      /layer "act" \(class Activation\): activation "elu"/,
    ],
    [
      tfl.layers.conv2d({ filters: 2, kernelSize: 3, padding: "causal", name: "c" }),
      /layer "c".*padding "causal"/,
    ],
  ];
  for (const [layer, message] of cases) {
    const model = build(layer);
    await assert.rejects(exportOnnx(model), (e: unknown) => {
      assert.ok(e instanceof OnnxExportError);
      assert.match(e.message, message);
      assert.equal(e.layer, layer.name);
      return true;
    });
    model.dispose();
  }
  const flat = chain(input, tfl.layers.conv2d({ filters: 2, kernelSize: 1 }));
  await assert.rejects(exportOnnx(flat), /expected an image input .* and an output \[batch, classes\]/);
  flat.dispose();
});

Deno.test("writeBundleOnnx: writes model.onnx atomically; saving the bundle again drops it", async () => {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
  await saveBundle(model, dir, { modelVersion: "v7" });
  const before = tf.memory().numTensors;
  const { path, bytes } = await writeBundleOnnx(dir);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(path, join(dir, "model.onnx"));
  assert.equal(readFileSync(path).length, bytes);
  assert.deepEqual(readdirSync(dir).sort(), [
    "MODEL_CARD.md",
    "metadata.json",
    "model.json",
    "model.onnx",
    "weights.bin",
  ]);
  // The model version travels in the file's metadata_props.
  assert.ok(new TextDecoder().decode(readFileSync(path)).includes("modelVersion"));
  await saveBundle(model, dir, { modelVersion: "v8" });
  assert.equal(existsSync(path), false);
  model.dispose();
});
