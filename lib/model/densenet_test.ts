import assert from "node:assert/strict";
import { createDenseNet } from "./densenet.ts";
import { selectBackend } from "./backend.ts";
import { tf, tfl } from "./tf.ts";
import { maxRelDiff, seeded, setSeededWeights } from "./_testing.ts";

await selectBackend("cpu");

Deno.test("densenet: DenseNet-121 with a 14-unit head has exactly 7,051,854 parameters and Keras' layer names", () => {
  const model = createDenseNet();
  try {
    assert.equal(model.countParams(), 7_051_854);
    const names = model.layers.map((l) => l.name);
    for (
      const n of [
        "conv1/conv",
        "conv1/bn",
        "conv1/relu",
        "pool1",
        "conv2_block1_0_bn",
        "conv2_block1_0_relu",
        "conv2_block1_1_conv",
        "conv2_block1_2_conv",
        "conv2_block1_concat",
        "pool2_bn",
        "pool2_conv",
        "pool2_pool",
        "conv3_block12_concat",
        "conv4_block24_concat",
        "conv5_block16_concat",
        "bn",
        "relu",
        "avg_pool",
        "predictions",
      ]
    ) assert.ok(names.includes(n), `missing layer ${n}`);
    assert.equal(names.filter((n) => n.endsWith("_concat")).length, 6 + 12 + 24 + 16);
    assert.deepEqual(model.getLayer("relu").outputShape, [null, 7, 7, 1024]);
    assert.deepEqual(model.getLayer("conv1/conv").getWeights()[0]?.shape, [7, 7, 3, 64]);
  } finally {
    model.dispose();
  }
});

Deno.test("densenet: without the head and normalisation the backbone matches Keras' DenseNet121(include_top=False)", () => {
  const model = createDenseNet({ includeTop: false, normalization: null, channels: 3 });
  assert.equal(model.countParams(), 7_037_504);
  model.dispose();
});

Deno.test("densenet: a tiny model's shapes follow blocks, growth rate and input size", () => {
  const model = createDenseNet({ blocks: [2, 3], growthRate: 8, inputSize: 64, classes: 5 });
  // stem 16 -> +2*8 = 32 -> transition 16 -> +3*8 = 40
  assert.deepEqual(model.getLayer("pool2_pool").outputShape, [null, 8, 8, 16]);
  assert.deepEqual(model.getLayer("relu").outputShape, [null, 8, 8, 40]);
  assert.deepEqual(model.outputs[0]?.shape, [null, 5]);
  assert.throws(() => createDenseNet({ blocks: [] }), RangeError);
  assert.throws(() => createDenseNet({ growthRate: 0 }), /growthRate must be a positive integer/);
  model.dispose();
});

Deno.test("densenet: the model serialises to JSON and back with its normalisation layer, same predictions, no leaks", async () => {
  const model = createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: 32 });
  setSeededWeights(model, 7);
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(seeded(2 * 32 * 32, 9, 0, 255), [2, 32, 32, 1]);
  const y = model.predict(x) as tf.Tensor;
  const expected = await y.data();
  tf.dispose([x, y]);
  assert.equal(tf.memory().numTensors, before, "predict leaked tensors");
  const json = model.toJSON(null, false) as tf.io.ModelJSON["modelTopology"];
  assert.match(JSON.stringify(json), /"class_name":"CxrNormalize"/);
  const copy = await tfl.models.modelFromJSON({ modelTopology: json } as tf.io.ModelJSON);
  copy.setWeights(model.getWeights());
  const x2 = tf.tensor4d(seeded(2 * 32 * 32, 9, 0, 255), [2, 32, 32, 1]);
  const y2 = copy.predict(x2) as tf.Tensor;
  assert.ok(maxRelDiff(await y2.data(), expected) < 1e-6);
  tf.dispose([x2, y2]);
  model.dispose();
  copy.dispose();
});
