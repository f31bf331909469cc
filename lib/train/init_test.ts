import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../tests/_fixtures.ts";
import { createDenseNet, loadBundle, readBundleMetadata, selectBackend, tf, tfl } from "../model/mod.ts";
import { setSeededWeights } from "../model/_testing.ts";
import { h5Ready, writeKerasH5 } from "../model/_keras_h5_testing.ts";
import { freezeLayers, initializeWeights, weightsProvenance } from "./init.ts";
import { classWeights } from "./loss.ts";
import { trainStep } from "./step.ts";
import { train } from "./fit.ts";
import { randomBatch, writeSyntheticCache } from "./_testing.ts";

await selectBackend("cpu");
await h5Ready;

/** The values of the first weight (the kernel) of `model`'s layer `layer`. */
function kernel(model: tfl.LayersModel, layer: string): Float32Array {
  const [w] = model.getLayer(layer).getWeights();
  assert.ok(w, `layer "${layer}" has no weights`);
  return w.dataSync() as Float32Array;
}

function tiny(): tfl.LayersModel {
  const model = createDenseNet({ blocks: [2, 2], growthRate: 4, inputSize: 32, name: "tiny" });
  setSeededWeights(model, 3);
  return model;
}

function snapshot(model: tfl.LayersModel): Map<string, Float32Array> {
  return new Map(model.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]));
}

async function oneStep(model: tfl.LayersModel): Promise<void> {
  const [x, y] = randomBatch(7, 4);
  const labels = await y.data();
  await trainStep(model, tf.train.adam(0.01), x, y, {
    weights: classWeights(labels, 14),
    variables: model.trainableWeights.map((w) => w.read() as tf.Variable),
  });
  tf.dispose([x, y]);
}

/** Names of weights whose values changed between two snapshots. */
function changed(a: Map<string, Float32Array>, b: Map<string, Float32Array>): Set<string> {
  return new Set([...a].filter(([k, v]) => v.some((x, i) => x !== b.get(k)![i])).map(([k]) => k));
}

Deno.test("freeze backbone: one step changes only the head; frozen BatchNorm keeps its moving statistics and normalises with them", async () => {
  const model = tiny();
  const summary = freezeLayers(model, "backbone");
  assert.equal(summary.trainableLayers, 1);
  assert.equal(summary.trainableParams, model.getLayer("predictions").countParams());
  assert.equal(summary.frozenParams + summary.trainableParams, model.countParams());
  // With every BatchNorm frozen, training mode gives inference-mode outputs.
  const [x, y] = randomBatch(7, 3);
  const trainingOut = tf.tidy(() => model.apply(x, { training: true }) as tf.Tensor);
  const inferenceOut = tf.tidy(() => model.predict(x) as tf.Tensor);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(trainingOut, inferenceOut))).arraySync() as number);
  assert.ok(diff < 1e-6, `training-mode output differs from inference by ${diff}`);
  tf.dispose([x, y, trainingOut, inferenceOut]);

  const before = snapshot(model);
  const tensors = tf.memory().numTensors;
  await oneStep(model);
  assert.ok(tf.memory().numTensors <= tensors + 8, "no tensors leaked beyond Adam's moments");
  const moved = changed(before, snapshot(model));
  assert.deepEqual([...moved].sort(), ["predictions/bias", "predictions/kernel"]);
  model.dispose();
});

Deno.test("freeze LAYER: layers before it stay fixed (moving statistics too), it and every later layer train", async () => {
  const model = tiny();
  const s = freezeLayers(model, "conv3_block1_0_bn");
  assert.ok(s.frozenLayers > 0 && s.trainableLayers > 0);
  const before = snapshot(model);
  await oneStep(model);
  const moved = changed(before, snapshot(model));
  const names = model.layers.map((l) => l.name);
  const first = names.indexOf("conv3_block1_0_bn");
  for (const [i, layer] of model.layers.entries()) {
    for (const w of layer.weights) {
      if (i < first) assert.ok(!moved.has(w.originalName), `${w.originalName} is frozen but changed`);
      else assert.ok(moved.has(w.originalName), `${w.originalName} trains but did not change`);
    }
  }
  // Unfreezing restores plain training-mode BatchNorm.
  freezeLayers(model, "none");
  assert.equal(model.trainableWeights.length, model.layers.flatMap((l) => l.trainableWeights).length);
  const again = snapshot(model);
  await oneStep(model);
  assert.ok(changed(again, snapshot(model)).has("conv1/bn/moving_mean"));
  assert.throws(
    () => freezeLayers(model, "conv9_block1_0_bn"),
    /freeze: no layer "conv9_block1_0_bn" in model "tiny"; expected none, backbone or a layer name such as conv2_block1_0_bn, conv2_block1_1_bn, conv2_block2_0_bn/,
  );
  model.dispose();
});

Deno.test("init FILE.h5: weights it has are loaded, those it lacks listed and left alone, extra ones listed; md5 recorded", async () => {
  using dir = tempDir();
  const file = join(dir.path, "colleague.h5");
  const source = tiny();
  setSeededWeights(source, 40);
  writeKerasH5(source, file, { drop: ["conv3_block2_2_conv"], extra: true });
  const target = tiny();
  const untouched = kernel(target, "conv3_block2_2_conv").slice();
  const summary = await initializeWeights(target, file);
  assert.equal(summary.source, "file");
  assert.deepEqual(summary.missing, ["conv3_block2_2_conv/kernel"]);
  assert.deepEqual(summary.unused, ["extra/kernel"]);
  assert.equal(summary.loaded, source.weights.length - 1);
  assert.equal(summary.md5, createHash("md5").update(readFileSync(file)).digest("hex"));
  assert.deepEqual(kernel(target, "conv3_block2_2_conv"), untouched);
  assert.deepEqual(kernel(target, "predictions"), kernel(source, "predictions"));
  const shown = (summary as unknown as Record<symbol, () => Record<string, string>>)[
    Symbol.for("Jupyter.display")
  ]?.();
  assert.match(shown?.["text/html"] ?? "", /missing from the file<\/th><td>conv3_block2_2_conv\/kernel/);
  assert.deepEqual(weightsProvenance(summary, "backbone"), {
    init: "file",
    file: "colleague.h5",
    md5: summary.md5,
    loaded: summary.loaded,
    missing: ["conv3_block2_2_conv/kernel"],
    freeze: "backbone",
  });
  // A file of another model size is refused, naming the misshapen weights.
  const wide = createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: 32 });
  writeKerasH5(wide, join(dir.path, "wide.h5"));
  await assert.rejects(
    initializeWeights(target, join(dir.path, "wide.h5")),
    /wrong shape \d+: conv1\/conv\/kernel/,
  );
  tf.dispose([source, target, wide].map((m) => m.getWeights()).flat());
});

Deno.test("init imagenet: the notop file is fetched from the base URL into the cache, the head starts fresh", async () => {
  using dir = tempDir();
  const source = tiny();
  setSeededWeights(source, 41);
  const served = join(dir.path, "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5");
  writeKerasH5(source, served, { drop: ["predictions"] });
  const bytes = readFileSync(served);
  const md5 = createHash("md5").update(bytes).digest("hex");
  let requests = 0;
  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    requests++;
    return new URL(req.url).pathname.endsWith("_notop.h5")
      ? new Response(bytes)
      : new Response("no", { status: 404 });
  });
  const target = tiny();
  const head = kernel(target, "predictions").slice();
  const pretrained = {
    baseUrl: `http://127.0.0.1:${server.addr.port}/w/`,
    cacheDir: join(dir.path, "cache"),
    md5,
  };
  const summary = await initializeWeights(target, "imagenet", { pretrained });
  assert.equal(summary.source, "imagenet");
  assert.equal(summary.status, "downloaded");
  assert.equal(summary.md5, md5);
  assert.deepEqual(summary.fresh, ["predictions/kernel", "predictions/bias"]);
  assert.equal(summary.loaded, source.weights.length - 2);
  assert.deepEqual(kernel(target, "predictions"), head);
  assert.deepEqual(kernel(target, "conv1/conv"), kernel(source, "conv1/conv"));
  const again = await initializeWeights(tiny(), "imagenet", { pretrained });
  assert.equal(again.status, "cached");
  assert.equal(requests, 1);
});

Deno.test("train --init FILE --freeze backbone: the bundle records the init and freeze; resuming with another freeze is refused", async () => {
  using dir = tempDir();
  const cache = await writeSyntheticCache(dir.path, { images: 24, size: 32 });
  const source = createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: 32, name: "tiny" });
  setSeededWeights(source, 42);
  const file = join(dir.path, "start.h5");
  writeKerasH5(source, file);
  const out = join(dir.path, "run");
  const events: string[] = [];
  const settings = { arch: "tiny", batchSize: 8, init: file, freeze: "backbone" } as const;
  const summary = await train(cache, out, {
    ...settings,
    epochs: 1,
    augment: null,
    onProgress: (e) => events.push(e.type),
  });
  assert.deepEqual(events.slice(0, 2), ["init", "start"]);
  assert.equal(summary.freeze.trainableLayers, 1);
  const meta = await readBundleMetadata(summary.bundle);
  assert.equal(meta.weights?.init, "file");
  assert.equal(meta.weights?.file, "start.h5");
  assert.equal(meta.weights?.freeze, "backbone");
  assert.deepEqual(meta.weights?.missing, []);
  assert.equal(meta.training?.splitMethod, "official", "the cache carries the split's method to the card");
  assert.match(readFileSync(join(summary.bundle, "MODEL_CARD.md"), "utf8"), /method `official`/);
  // The backbone in best/ is still the file's.
  const best = await loadBundle(summary.bundle);
  assert.deepEqual(kernel(best.model, "conv2_block1_1_conv"), kernel(source, "conv2_block1_1_conv"));
  best.model.dispose();
  await assert.rejects(
    train(cache, out, { ...settings, epochs: 2, freeze: "none" }),
    /other settings \(freeze: backbone there, none now\)/,
  );
  await assert.rejects(
    train(cache, out, { arch: "tiny", epochs: 2, init: "imagenet" }),
    /ImageNet weights exist only for densenet121/,
  );
  // Resuming with the same settings continues from the checkpoint, keeping the provenance.
  const resumed = await train(cache, out, { ...settings, epochs: 2 });
  assert.ok(resumed.resumedFrom);
  assert.equal(resumed.weights.file, "start.h5");
  assert.equal(resumed.freeze.trainableLayers, 1);
  source.dispose();
});

Deno.test("train from random weights is reproducible from its seed (kernels drawn from it, not Math.random)", async () => {
  using dir = tempDir();
  const cache = await writeSyntheticCache(dir.path, { images: 24, size: 16 });
  const run = async (name: string, seed: number) => {
    const s = await train(cache, join(dir.path, name), {
      arch: "tiny",
      epochs: 1,
      batchSize: 8,
      seed,
      augment: null,
    });
    return s.best.val_loss;
  };
  const a = await run("a", 5), b = await run("b", 5), c = await run("c", 6);
  assert.equal(a, b);
  assert.notEqual(a, c);
});
