import assert from "node:assert/strict";
import { selectBackend } from "./backend.ts";
import { checkNormalization, IMAGENET_NORMALIZATION, Normalize, normalize } from "./normalize.ts";
import { tf } from "./tf.ts";

await selectBackend("cpu");

Deno.test("normalize: grey pixels are replicated, scaled to 0..1 and standardised per channel", async () => {
  const before = tf.memory().numTensors;
  const x = tf.tensor4d([0, 51, 255, 102], [1, 2, 2, 1], "int32");
  const y = normalize(x);
  assert.deepEqual(y.shape, [1, 2, 2, 3]);
  const v = await y.data();
  const { mean, std } = IMAGENET_NORMALIZATION;
  [0, 51, 255, 102].forEach((p, i) => {
    for (let c = 0; c < 3; c++) assert.ok(Math.abs(v[i * 3 + c]! - (p / 255 - mean[c]!) / std[c]!) < 1e-5);
  });
  tf.dispose([x, y]);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("normalize: 3-channel input is used as is; other channel counts and ranks are refused", async () => {
  const x = tf.fill([1, 1, 1, 3], 255);
  const y = normalize(x, { inputScale: 255, mean: [0, 0.5, 1], std: [1, 0.5, 2] });
  assert.deepEqual(Array.from(await y.data()), [1, 1, 0]);
  assert.throws(() => normalize(tf.zeros([1, 1, 1, 2])), /2 channels; expected 1 or 3/);
  assert.throws(() => normalize(tf.zeros([1, 1, 1])), /rank 4/);
  tf.dispose([x, y]);
});

Deno.test("normalize: checkNormalization names what is wrong", () => {
  assert.throws(() => checkNormalization({ inputScale: 0, mean: [0], std: [1] }), /inputScale must be > 0/);
  assert.throws(() => checkNormalization({ inputScale: 1, mean: [0, 0], std: [1] }), /same length/);
  assert.throws(() => checkNormalization({ inputScale: 1, mean: ["a"] } as never), TypeError);
  assert.deepEqual(checkNormalization(IMAGENET_NORMALIZATION), {
    inputScale: 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
  });
});

Deno.test("normalize: the Normalize layer round-trips through its config", () => {
  const layer = new Normalize({ name: "n", normalization: { inputScale: 4095, mean: [0.5], std: [0.25] } });
  const config = layer.getConfig();
  const copy = tf.serialization.SerializationMap.getMap().classNameMap.CxrNormalize![1](
    Normalize,
    config,
  ) as Normalize;
  assert.deepEqual(copy.normalization, { inputScale: 4095, mean: [0.5], std: [0.25] });
  assert.deepEqual(copy.computeOutputShape([null, 8, 8, 1]), [null, 8, 8, 1]);
});
