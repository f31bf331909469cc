import assert from "node:assert/strict";
import { join } from "node:path";
import { selectBackend } from "./backend.ts";
import { saveBundle } from "./bundle.ts";
import { createDenseNet } from "./densenet.ts";
import { openPredictor } from "./predictor.ts";
import { PredictorDisposedError } from "./predictor_contract.ts";
import { tf } from "./tf.ts";
import { camProbabilities, maxAbsDiff, seeded, setSeededWeights } from "./_testing.ts";

await selectBackend("cpu");

async function tinyBundle(options: { includeTop?: boolean } = {}): Promise<string> {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = createDenseNet({ blocks: [2, 1], growthRate: 4, inputSize: 32, ...options });
  setSeededWeights(model, 11);
  await saveBundle(model, dir, { modelVersion: "tiny-1" });
  model.dispose();
  return dir;
}

const pixels = (n: number, seed: number) => Uint8Array.from(seeded(n * 32 * 32, seed, 0, 256), Math.floor);

Deno.test("predictor: auto opens tfjs without model.onnx; probabilities equal model.predict", async () => {
  const dir = await tinyBundle();
  const before = tf.memory().numTensors;
  const predictor = await openPredictor(dir);
  assert.equal(predictor.engine, "tfjs");
  assert.equal(predictor.metadata.modelVersion, "tiny-1");
  const x = pixels(3, 4);
  const afterOpen = tf.memory().numTensors;
  const { probabilities, cam } = await predictor.predict(x, 3);
  assert.equal(cam, undefined);
  assert.equal(tf.memory().numTensors, afterOpen);
  assert.equal(probabilities.length, 3 * 14);

  const { model } = await import("./bundle.ts").then((m) => m.loadBundle(dir));
  const input = tf.tensor4d(Float32Array.from(x), [3, 32, 32, 1]);
  const reference = model.predict(input) as tf.Tensor;
  assert.deepEqual(probabilities, new Float32Array(await reference.data()));
  tf.dispose([input, reference]);
  model.dispose();

  await predictor.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("predictor: CAM averaged over the map plus the Dense bias gives the logits", async () => {
  const dir = await tinyBundle();
  const predictor = await openPredictor(dir, { engine: "tfjs" });
  const afterOpen = tf.memory().numTensors;
  const { probabilities, cam } = await predictor.predict(pixels(2, 9), 2, { cam: true });
  assert.equal(tf.memory().numTensors, afterOpen);
  assert.ok(cam);
  // 32 -> conv1 16 -> pool1 8 -> transition 4.
  assert.deepEqual([cam.height, cam.width, cam.classes], [4, 4, 14]);
  assert.equal(cam.data.length, 2 * 4 * 4 * 14);
  const { model } = await import("./bundle.ts").then((m) => m.loadBundle(dir));
  const bias = await model.getLayer("predictions").getWeights()[1]!.data();
  model.dispose();
  const diff = maxAbsDiff(camProbabilities(cam, bias), probabilities);
  assert.ok(diff < 1e-5, `the maps' probabilities differ by ${diff}`);
  await predictor.dispose();
});

Deno.test("predictor: bad input is refused naming predict(); a disposed predictor rejects", async () => {
  const dir = await tinyBundle();
  const predictor = await openPredictor(dir, { engine: "tfjs" });
  const before = tf.memory().numTensors;
  await assert.rejects(predictor.predict(new Uint8Array(32 * 32 - 1), 1), {
    name: "RangeError",
    message: "predict(): expected 1024 pixels (1 x 32 x 32 x 1), got 1023",
  });
  await assert.rejects(predictor.predict(new Uint8Array(0), 0), /predict\(\): n must be a positive integer/);
  await assert.rejects(predictor.predict([1, 2] as unknown as Uint8Array, 1), TypeError);
  assert.equal(tf.memory().numTensors, before);
  await predictor.dispose();
  await assert.rejects(predictor.predict(pixels(1, 1), 1), PredictorDisposedError);
});

Deno.test("predictor: a model without a pooling+Dense head has no CAM; unknown engines are refused", async () => {
  const dir = await tinyBundle();
  await assert.rejects(openPredictor(dir, { engine: "torch" as "tfjs" }), {
    name: "TypeError",
    message: 'openPredictor: unknown engine "torch"; expected one of auto, tfjs, onnx',
  });
  const headless = join(await Deno.makeTempDir(), "bundle");
  const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16, includeTop: false });
  // A headless model's last axis is its channels; name them so the bundle is consistent.
  const channels = model.outputs[0]!.shape[3] as number;
  await saveBundle(model, headless, { classNames: Array.from({ length: channels }, (_, i) => `f${i}`) });
  model.dispose();
  const predictor = await openPredictor(headless, { engine: "tfjs" });
  await assert.rejects(
    predictor.predict(new Uint8Array(16 * 16), 1, { cam: true }),
    /no class activation maps/,
  );
  await predictor.dispose();
});
