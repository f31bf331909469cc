import assert from "node:assert/strict";
import { join } from "node:path";
import h5wasm from "h5wasm/node";
import { selectBackend } from "./backend.ts";
import { createDenseNet } from "./densenet.ts";
import { importKerasWeights, KerasWeightsError } from "./keras_import.ts";
import { tfl } from "./tf.ts";
import { setSeededWeights } from "./_testing.ts";
import { writeKerasH5 } from "./_keras_h5_testing.ts";

await selectBackend("cpu");
await h5wasm.ready;

/** A small DenseNet, with seeded weights when `seed` is given. */
function tiny({ growthRate = 4, seed }: { growthRate?: number; seed?: number } = {}): tfl.LayersModel {
  const model = createDenseNet({ blocks: [2, 2], growthRate, inputSize: 32 });
  if (seed !== undefined) setSeededWeights(model, seed);
  return model;
}

function sameWeights(a: tfl.LayersModel, b: tfl.LayersModel): boolean {
  const wa = a.getWeights(), wb = b.getWeights();
  return wa.length === wb.length &&
    wa.every((t, i) => {
      const [x, y] = [t.dataSync(), wb[i]?.dataSync() ?? []];
      return x.length === y.length && x.every((v, j) => v === y[j]);
    });
}

Deno.test("keras_import: weights written in the Keras save_weights layout load by name", async () => {
  const file = join(await Deno.makeTempDir(), "weights.h5");
  const source = tiny({ seed: 21 });
  writeKerasH5(source, file);
  const target = tiny();
  assert.ok(!sameWeights(source, target));
  const result = await importKerasWeights(target, file);
  assert.equal(result.loaded, source.weights.length);
  assert.deepEqual(result.unused, []);
  assert.ok(sameWeights(source, target));
});

Deno.test("keras_import: a full-model file with a nested backbone (CheXNet-style checkpoint) and chunked layer_names loads too", async () => {
  const file = join(await Deno.makeTempDir(), "chexnet.h5");
  const source = tiny({ seed: 22 });
  writeKerasH5(source, file, { fullModel: true, nested: "densenet121", extra: true, chunked: true });
  const target = tiny();
  const result = await importKerasWeights(target, file);
  assert.deepEqual(result.unused, ["extra/kernel"]);
  assert.ok(sameWeights(source, target));
});

Deno.test("keras_import: an ImageNet 'notop' file needs skipLayers for the head, and says so otherwise", async () => {
  const file = join(await Deno.makeTempDir(), "notop.h5");
  const source = tiny({ seed: 23 });
  writeKerasH5(source, file, { drop: ["predictions"] });
  const target = tiny();
  await assert.rejects(importKerasWeights(target, file), (e: unknown) => {
    assert.ok(e instanceof KerasWeightsError);
    assert.deepEqual(e.missing, ["predictions/kernel", "predictions/bias"]);
    assert.match(e.message, /notop.h5": missing 2: predictions\/kernel, predictions\/bias/);
    return true;
  });
  const result = await importKerasWeights(target, file, { skipLayers: ["predictions"] });
  assert.deepEqual(result.skipped, ["predictions/kernel", "predictions/bias"]);
  assert.equal(result.loaded, source.weights.length - 2);
});

Deno.test("keras_import: misshapen weights are all listed and nothing is assigned", async () => {
  const file = join(await Deno.makeTempDir(), "other.h5");
  const source = tiny({ growthRate: 8, seed: 24 });
  writeKerasH5(source, file);
  const target = tiny({ growthRate: 4, seed: 25 });
  const before = target.getWeights().map((t) => Array.from(t.dataSync()));
  await assert.rejects(importKerasWeights(target, file), (e: unknown) => {
    assert.ok(e instanceof KerasWeightsError);
    assert.ok(
      e.misshapen.includes("conv1/conv/kernel: model [7,7,3,8], file [7,7,3,16]"),
      e.misshapen.join("\n"),
    );
    assert.ok(e.misshapen.length > 10);
    assert.deepEqual(e.missing, []);
    return true;
  });
  assert.deepEqual(target.getWeights().map((t) => Array.from(t.dataSync())), before);
  await assert.rejects(
    importKerasWeights(target, join(file, "..", "absent.h5")),
    /absent.h5": ENOENT|absent.h5": No such file/,
  );
});

Deno.test("keras_import: allowMissing leaves absent weights as initialised and lists them, but shapes still fail", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "colleague.h5");
  const source = tiny({ seed: 26 });
  writeKerasH5(source, file, { drop: ["predictions"], extra: true });
  const target = tiny({ seed: 27 });
  const head = target.getLayer("predictions").getWeights().map((t) => Array.from(t.dataSync()));
  const result = await importKerasWeights(target, file, { allowMissing: true });
  assert.deepEqual(result.missing, ["predictions/kernel", "predictions/bias"]);
  assert.deepEqual(result.unused, ["extra/kernel"]);
  assert.equal(result.loaded, source.weights.length - 2);
  assert.deepEqual(target.getLayer("predictions").getWeights().map((t) => Array.from(t.dataSync())), head);
  const conv = (m: tfl.LayersModel) => Array.from(m.getLayer("conv1/conv").getWeights()[0]?.dataSync() ?? []);
  assert.deepEqual(conv(target), conv(source));
  // Without allowMissing the result still says nothing is missing when nothing is.
  const full = join(dir, "full.h5");
  writeKerasH5(source, full);
  assert.deepEqual((await importKerasWeights(tiny(), full)).missing, []);
  // A shape mismatch is an error even with allowMissing, naming every mismatched weight and no missing one.
  const wide = tiny({ growthRate: 8 });
  writeKerasH5(wide, file, { drop: ["predictions"] });
  await assert.rejects(importKerasWeights(tiny(), file, { allowMissing: true }), (e: unknown) => {
    assert.ok(e instanceof KerasWeightsError);
    assert.deepEqual(e.missing, []);
    assert.ok(e.misshapen.includes("conv1/conv/kernel: model [7,7,3,8], file [7,7,3,16]"));
    assert.doesNotMatch(e.message, /missing/);
    return true;
  });
});

Deno.test("keras_import: weights stored under other names (Theano-era conv1_W, session-uniquified conv1/conv_1/kernel) load by layer and position, as Keras does", async () => {
  const dir = await Deno.makeTempDir();
  const source = tiny({ seed: 26 });
  const theano = join(dir, "theano.h5");
  writeKerasH5(source, theano, {
    renameWeight: (name, i) => `${name.slice(0, name.lastIndexOf("/")).replace("/", "_")}_W${i}`,
  });
  const target = tiny();
  const result = await importKerasWeights(target, theano);
  assert.equal(result.loaded, source.weights.length);
  assert.deepEqual(result.unused, []);
  assert.ok(sameWeights(source, target));
  const session = join(dir, "session.h5");
  writeKerasH5(source, session, { renameWeight: (name) => name.replace(/\/([^/]+)$/, "_1/$1") });
  const again = tiny();
  await importKerasWeights(again, session);
  assert.ok(sameWeights(source, again));
  // A misshapen weight under another name is reported under both.
  const wide = tiny({ growthRate: 8 });
  const file = join(dir, "wide.h5");
  writeKerasH5(wide, file, { renameWeight: (name, i) => `w${i}_${name.replaceAll("/", "_")}` });
  await assert.rejects(
    importKerasWeights(tiny(), file),
    /conv1\/conv\/kernel: model \[7,7,3,8\], file \[7,7,3,16\] \(stored as w0_conv1_conv_kernel\)/,
  );
  await Deno.remove(dir, { recursive: true });
});
