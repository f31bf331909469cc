import assert from "node:assert/strict";
import { join } from "node:path";
import { selectBackend } from "./backend.ts";
import { readBundleMetadata } from "./bundle.ts";
import { createDenseNet } from "./densenet.ts";
import { KerasModelImportError } from "./keras_densenet.ts";
import { importKerasModel } from "./keras_model_import.ts";
import { IMAGENET_NORMALIZATION, normalize } from "./normalize.ts";
import { openPredictor } from "./predictor.ts";
import { tf, tfl } from "./tf.ts";
import { maxAbsDiff, setSeededWeights } from "./_testing.ts";
import { createContribDenseNet, h5Ready, writeKerasH5 } from "./_keras_h5_testing.ts";

await selectBackend("cpu");
await h5Ready;

const SIZE = 32;

/** Two grey images with structure (a gradient and a disc), 0..255. */
function greyImages(): Uint8Array {
  const px = new Uint8Array(2 * SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      px[y * SIZE + x] = Math.round((255 * (x + y)) / (2 * SIZE - 2));
      px[SIZE * SIZE + y * SIZE + x] = (x - 12) ** 2 + (y - 18) ** 2 < 80 ? 230 : 20;
    }
  }
  return px;
}

/** The source model's probabilities for the grey images, fed as `prepare` makes them. */
async function sourceScores(
  model: tfl.LayersModel,
  prepare: (grey: tf.Tensor4D) => tf.Tensor,
): Promise<Float32Array> {
  const out = tf.tidy(() => {
    const grey = tf.tensor4d(Float32Array.from(greyImages()), [2, SIZE, SIZE, 1]);
    return model.predict(prepare(grey)) as tf.Tensor;
  });
  const data = await out.data() as Float32Array;
  out.dispose();
  return data;
}

async function bundleScores(dir: string, engine: "tfjs" | "onnx"): Promise<Float32Array> {
  const predictor = await openPredictor(dir, { engine });
  try {
    return (await predictor.predict(greyImages(), 2)).probabilities;
  } finally {
    await predictor.dispose();
  }
}

/** The seed's model: keras-contrib DenseNet, small, with seeded weights. */
function contribSource(seed: number): tfl.LayersModel {
  return createContribDenseNet({ blocks: [2, 2], growthRate: 4, inputSize: SIZE, seed });
}

const replicate255 = (grey: tf.Tensor4D) => tf.tile(grey, [1, 1, 1, 3]);

Deno.test("keras_model_import: a keras.applications-named weights-only file maps by name; imagenet input", async () => {
  const dir = await Deno.makeTempDir();
  const source = createDenseNet({
    blocks: [2, 2],
    growthRate: 4,
    inputSize: SIZE,
    normalization: null,
    channels: 3,
  });
  setSeededWeights(source, 31);
  writeKerasH5(source, join(dir, "applications.h5"));
  const summary = await importKerasModel(join(dir, "applications.h5"), join(dir, "bundle"), {
    inputSize: SIZE,
    name: "chexnet-keras",
  });
  assert.deepEqual(
    [summary.layout, summary.flavor, summary.flavorFrom, summary.mapping, summary.input],
    ["weights-only", "applications", "layer names", "name", "imagenet"],
  );
  assert.deepEqual([summary.blocks, summary.growthRate, summary.unused], [[2, 2], 4, []]);
  assert.equal(summary.loaded, source.weights.length);
  assert.match(summary.modelVersion, /^chexnet-keras-keras-[0-9a-f]{8}$/);
  assert.ok(summary.onnx.check!.maxAbsDiff <= 1e-5);
  const meta = await readBundleMetadata(join(dir, "bundle"));
  assert.deepEqual(meta.normalization, IMAGENET_NORMALIZATION);
  assert.equal(meta.architecture.name, "chexnet-keras");
  assert.deepEqual(meta.weights, {
    init: "keras",
    file: "applications.h5",
    md5: summary.md5,
    loaded: summary.loaded,
    missing: [],
  });
  const expected = await sourceScores(source, (g) => normalize(g, IMAGENET_NORMALIZATION));
  assert.ok(maxAbsDiff(await bundleScores(join(dir, "bundle"), "tfjs"), expected) <= 1e-6);
  assert.ok(maxAbsDiff(await bundleScores(join(dir, "bundle"), "onnx"), expected) <= 1e-5);
  // A CheXNet-style checkpoint (backbone nested as "densenet121", head on top) is no wrapper: same model.
  writeKerasH5(source, join(dir, "chexnet.h5"), { fullModel: true, nested: "densenet121" });
  const nested = await importKerasModel(join(dir, "chexnet.h5"), join(dir, "nested"), {
    inputSize: SIZE,
    checkImages: 0,
  });
  assert.deepEqual([nested.unwrapped, nested.mapping, nested.layout], [[], "name", "whole-model"]);
  assert.ok(maxAbsDiff(await bundleScores(join(dir, "nested"), "tfjs"), expected) <= 1e-6);
  source.dispose();
});

Deno.test("keras_model_import: the seed's multi_gpu_model-wrapped keras-contrib model.save file is unwrapped and mapped by order", async () => {
  const dir = await Deno.makeTempDir();
  const source = contribSource(32);
  const file = join(dir, "seed.h5");
  writeKerasH5(source, file, { modelConfig: true, multiGpu: true });
  const summary = await importKerasModel(file, join(dir, "bundle"));
  assert.deepEqual(
    [summary.layout, summary.unwrapped, summary.flavor, summary.flavorFrom, summary.mapping, summary.input],
    ["whole-model", ["model_1"], "contrib", "model_config", "order", "raw255"],
  );
  assert.equal(summary.inputSize, SIZE, "input size from the model_config");
  assert.equal(summary.kerasVersion, "2.1.6");
  const meta = await readBundleMetadata(join(dir, "bundle"));
  assert.deepEqual(meta.normalization, { inputScale: 1, mean: [0, 0, 0], std: [1, 1, 1] });
  assert.deepEqual([meta.inputSize, meta.channels], [SIZE, 1]);
  assert.deepEqual(meta.architecture.keras, {
    flavor: "contrib",
    layout: "whole-model",
    mapping: "order",
    unwrapped: ["model_1"],
  });
  assert.equal(meta.architecture.stem, "same");
  assert.equal(meta.architecture.bnEpsilon, 1.1e-5);
  const expected = await sourceScores(source, replicate255);
  assert.ok(expected.filter((p) => p > 0.05 && p < 0.95).length > 14, `saturated: ${expected}`);
  assert.ok(maxAbsDiff(await bundleScores(join(dir, "bundle"), "tfjs"), expected) <= 1e-6);
  assert.ok(maxAbsDiff(await bundleScores(join(dir, "bundle"), "onnx"), expected) <= 1e-5);
  source.dispose();
});

Deno.test("keras_model_import: a weights-only multi_gpu_model keras-contrib file is unwrapped and recognised by its names; the stem padding matters", async () => {
  const dir = await Deno.makeTempDir();
  const source = contribSource(33);
  const file = join(dir, "contrib_weights.h5");
  writeKerasH5(source, file, { multiGpu: true });
  const summary = await importKerasModel(file, join(dir, "bundle"), { inputSize: SIZE });
  assert.deepEqual(
    [summary.layout, summary.unwrapped, summary.flavor, summary.flavorFrom, summary.mapping, summary.input],
    ["weights-only", ["model_1"], "contrib", "layer names", "order", "raw255"],
  );
  const expected = await sourceScores(source, replicate255);
  assert.ok(maxAbsDiff(await bundleScores(join(dir, "bundle"), "onnx"), expected) <= 1e-5);
  // The same weights in keras.applications' zero-padded stem see the image one pixel off: other outputs.
  await importKerasModel(file, join(dir, "wrong"), {
    inputSize: SIZE,
    flavor: "applications",
    checkImages: 0,
  });
  const wrong = await bundleScores(join(dir, "wrong"), "tfjs");
  assert.ok(
    maxAbsDiff(wrong, expected) > 1e-4,
    `stem padding made no difference: ${maxAbsDiff(wrong, expected)}`,
  );
  source.dispose();
});

Deno.test("keras_model_import: one layer of the wrong shape names the first mismatch, both names and shapes", async () => {
  const dir = await Deno.makeTempDir();
  const source = contribSource(34);
  const file = join(dir, "bad.h5");
  // conv2d_8 is the 3x3 conv of block 2's first conv block (after the transition's conv2d_6): 4 -> 5 filters.
  const bad = source.getLayer("conv2d_8").weights[0];
  assert.ok(bad);
  assert.deepEqual(bad.shape, [3, 3, 16, 4]);
  writeKerasH5(source, file, { misshape: { [bad.originalName]: [3, 3, 16, 5] } });
  await assert.rejects(importKerasModel(file, join(dir, "bundle"), { inputSize: SIZE }), (e: unknown) => {
    assert.ok(e instanceof KerasModelImportError, String(e));
    assert.equal(e.layer, "conv2d_8");
    assert.match(
      e.message,
      /^Cannot import Keras model ".*bad\.h5": weight-carrying layer 16 does not match \(layers mapped by topological order and weight shapes\): model "conv3_block1_2_conv" kernel \[3,3,16,4\], file "conv2d_8" kernel \[3,3,16,5\]$/,
    );
    return true;
  });
  source.dispose();
});

Deno.test("keras_model_import: what the bundle cannot reproduce is refused with the file and layer", async () => {
  const dir = await Deno.makeTempDir();
  const source = contribSource(35);
  const out = join(dir, "bundle");
  // A softmax head is not 14 independent findings.
  const softmax = createContribDenseNet({
    blocks: [1],
    growthRate: 4,
    inputSize: SIZE,
    activation: "softmax",
  });
  const file = join(dir, "softmax.h5");
  writeKerasH5(softmax, file, { modelConfig: true });
  softmax.dispose();
  await assert.rejects(
    importKerasModel(file, out),
    /Cannot import Keras model ".*softmax\.h5": layer "dense_1" \(the head\) has activation "softmax"; expected sigmoid/,
  );
  // 13 class names for a 14-unit head.
  const weights = join(dir, "w.h5");
  writeKerasH5(source, weights);
  await assert.rejects(
    importKerasModel(weights, out, { classNames: Array.from({ length: 13 }, (_, i) => `c${i}`) }),
    /its head has 14 outputs but 13 class names were given/,
  );
  // Not a DenseNet: the stem is missing.
  writeKerasH5(source, weights, { drop: ["conv2d_1"] });
  await assert.rejects(
    importKerasModel(weights, out),
    /not a DenseNet this importer can rebuild: at layer 1 of \d+ "batch_normalization_1" \(gamma \[8\]\), expected the 7x7 stem convolution/,
  );
  await assert.rejects(importKerasModel(join(dir, "absent.h5"), out), KerasModelImportError);
  await assert.rejects(importKerasModel(weights, out, { checkImages: -1 }), RangeError);
  source.dispose();
});
