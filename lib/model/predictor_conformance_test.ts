// One conformance suite for every Predictor engine: each factory opens the same bundle, and every engine must
// agree with an independent reference (tfjs `model.predict` on the wasm backend) on a tiny DenseNet and, once,
// on the full DenseNet-121 at 224 with seeded random weights.
//
// Tolerances: probabilities to 1e-5 absolute (the requirement). CAMs to 1e-4 of the map's largest
// magnitude: the engines sum in different orders (XNNPACK vs MLAS, and ONNX Runtime folds BatchNormalization
// into the convolution weights), so float32 rounding (eps 1.2e-7) accumulates over ~120 layers with up to
// 1,152-term dot products. Measured here: onnx vs tfjs 6.6e-7 on a DenseNet-121 map range of 0.42 (1.6e-6
// of it), 8.6e-7 on the tiny model's 2.55; probabilities differ by 1.2e-7. So 1e-4 leaves a 60x margin and still
// catches any real error (a wrong layout or a missing bias moves values by > 1e-2 of the range).
import assert from "node:assert/strict";
import { join } from "node:path";
import { selectBackend } from "./backend.ts";
import { saveBundle } from "./bundle.ts";
import { createDenseNet, type DenseNetOptions } from "./densenet.ts";
import { writeBundleOnnx } from "./onnx_export.ts";
import { openPredictor } from "./predictor.ts";
import { type Predictor, PredictorDisposedError } from "./predictor_contract.ts";
import { tf, tfl } from "./tf.ts";
import { camProbabilities, maxAbsDiff, seeded } from "./_testing.ts";

await selectBackend("wasm");

/** Engines under test; a factory opens a bundle that has both model.json and model.onnx. */
const ENGINES: { name: string; open(dir: string): Promise<Predictor> }[] = [
  { name: "tfjs", open: (dir) => openPredictor(dir, { engine: "tfjs" }) },
  { name: "onnx", open: (dir) => openPredictor(dir, { engine: "onnx", threads: 1 }) },
];

/** Weights scaled by fan-in so activations stay O(1) through 121 layers and the sigmoids do not saturate. */
function setScaledWeights(model: tfl.LayersModel, seed: number): void {
  model.setWeights(model.weights.map((w, i) => {
    const shape = w.shape as number[];
    const size = shape.reduce((p, d) => p * d, 1);
    const name = w.originalName;
    let [lo, hi] = [-0.1, 0.1];
    if (/moving_variance|gamma/.test(name)) [lo, hi] = [0.5, 1.5];
    else if (/kernel/.test(name)) {
      const bound = Math.sqrt(3 / (size / shape.at(-1)!));
      [lo, hi] = [-bound, bound];
    }
    return tf.tensor(seeded(size, seed + i, lo, hi), shape);
  }));
}

interface Fixture {
  dir: string;
  size: number;
  images: Uint8Array;
  reference: Float32Array;
  bias: Float32Array;
}

async function fixture(options: DenseNetOptions): Promise<Fixture> {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = createDenseNet(options);
  setScaledWeights(model, 21);
  await saveBundle(model, dir, { modelVersion: "conformance" });
  await writeBundleOnnx(dir, { model });
  const size = options.inputSize ?? 224;
  const images = Uint8Array.from(seeded(3 * size * size, 5, 0, 256), Math.floor);
  const x = tf.tensor4d(Float32Array.from(images), [3, size, size, 1]);
  const y = model.predict(x) as tf.Tensor;
  const reference = new Float32Array(await y.data());
  const bias = new Float32Array(await model.getLayer("predictions").getWeights()[1]!.data());
  tf.dispose([x, y]);
  model.dispose();
  return { dir, size, images, reference, bias };
}

const CASES: { label: string; options: DenseNetOptions }[] = [
  { label: "tiny DenseNet", options: { blocks: [2, 2], growthRate: 4, inputSize: 32 } },
  { label: "DenseNet-121 at 224", options: {} },
];

for (const { label, options } of CASES) {
  let shared: Promise<Fixture> | undefined;
  const get = () => shared ??= fixture(options);
  const cams = new Map<string, Float32Array>();

  for (const engine of ENGINES) {
    Deno.test(`predictor conformance (${engine.name}, ${label}): probabilities and CAMs match the reference`, async () => {
      const f = await get();
      const predictor = await engine.open(f.dir);
      assert.equal(predictor.engine, engine.name);
      assert.equal(predictor.metadata.modelVersion, "conformance");
      const pixels = f.size * f.size;
      // Batch of 1, then of 3 with CAMs.
      const one = await predictor.predict(f.images.subarray(0, pixels), 1);
      assert.ok(maxAbsDiff(one.probabilities, f.reference.subarray(0, 14)) <= 1e-5);
      const three = await predictor.predict(f.images, 3, { cam: true });
      assert.equal(three.probabilities.length, 3 * 14);
      const diff = maxAbsDiff(three.probabilities, f.reference);
      assert.ok(diff <= 1e-5, `probabilities differ by ${diff}`);
      // The test means something only if the sigmoids are not saturated.
      assert.ok(f.reference.some((p) => p > 0.01 && p < 0.99), "reference probabilities are saturated");
      const cam = three.cam!;
      // conv1 and pool1 halve the size twice, each transition once more.
      const expectedMap = f.size / (4 * 2 ** ((options.blocks?.length ?? 4) - 1));
      assert.deepEqual([cam.height, cam.width, cam.classes], [expectedMap, expectedMap, 14]);
      // Averaging a CAM over the map and adding the bias gives the logit.
      const logitDiff = maxAbsDiff(camProbabilities(cam, f.bias), f.reference);
      assert.ok(logitDiff <= 1e-5, `the maps' probabilities differ by ${logitDiff}`);
      cams.set(engine.name, cam.data);
      const first = cams.values().next().value!;
      const range = first.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const camDiff = maxAbsDiff(cam.data, first);
      assert.ok(
        camDiff <= 1e-4 * range,
        `CAM differs from the first engine's by ${camDiff} (range ${range})`,
      );
      await predictor.dispose();
    });
  }
}

for (const engine of ENGINES) {
  Deno.test(`predictor conformance (${engine.name}): bad input is a RangeError naming predict(); dispose works`, async () => {
    const dir = join(await Deno.makeTempDir(), "bundle");
    const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
    await saveBundle(model, dir);
    await writeBundleOnnx(dir, { model });
    model.dispose();
    const tensors = tf.memory().numTensors;
    const predictor = await engine.open(dir);
    await assert.rejects(predictor.predict(new Uint8Array(255), 1), {
      name: "RangeError",
      message: "predict(): expected 256 pixels (1 x 16 x 16 x 1), got 255",
    });
    await assert.rejects(predictor.predict(new Uint8Array(512), 1.5), RangeError);
    assert.equal((await predictor.predict(new Uint8Array(512), 2)).probabilities.length, 28);
    await predictor.dispose();
    await predictor.dispose();
    await assert.rejects(predictor.predict(new Uint8Array(256), 1), PredictorDisposedError);
    assert.equal(tf.memory().numTensors, tensors);
  });
}
