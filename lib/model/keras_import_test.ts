import assert from "node:assert/strict";
import { join } from "node:path";
import h5wasm from "h5wasm/node";
import { selectBackend } from "./backend.ts";
import { createDenseNet } from "./densenet.ts";
import { importKerasWeights, KerasWeightsError } from "./keras_import.ts";
import { tfl } from "./tf.ts";
import { setSeededWeights } from "./_testing.ts";

await selectBackend("cpu");
await h5wasm.ready;

interface Layout {
  /** Put everything under `model_weights` (as `model.save("x.h5")` does). */
  fullModel?: boolean;
  /** Store the backbone as one nested-model layer of this name (head stays a top-level layer). */
  nested?: string;
  /** Layers left out of the file. */
  drop?: string[];
  /** Extra top-level layer with one weight nobody uses. */
  extra?: boolean;
  /** Split `layer_names` into `layer_names0`, `layer_names1` (as Keras does past 64 KB). */
  chunked?: boolean;
}

// deno-lint-ignore no-explicit-any
function group(parent: any, path: string): any {
  let g = parent;
  for (const part of path.split("/")) g = g.keys().includes(part) ? g.get(part) : g.create_group(part);
  return g;
}

/** A string-array attribute as h5py writes Keras' (fixed-length byte strings, `|S<n>`). */
// deno-lint-ignore no-explicit-any
function strings(g: any, name: string, values: string[]): void {
  if (values.length === 0) g.create_attribute(name, []);
  else g.create_attribute(name, values, [values.length], `S${Math.max(...values.map((v) => v.length))}`);
}

/** Writes `model`'s weights the way Keras 2 / tf.keras `save_weights(".h5")` lays them out. */
function writeKerasH5(model: tfl.LayersModel, file: string, layout: Layout = {}): void {
  const h5 = new h5wasm.File(file, "w");
  const root = layout.fullModel ? h5.create_group("model_weights") : h5;
  const layers = model.layers.filter((l) => !(layout.drop ?? []).includes(l.name));
  const write = (g: ReturnType<typeof group>, weights: tfl.LayerVariable[]) => {
    strings(g, "weight_names", weights.map((w) => `${w.originalName}:0`));
    for (const w of weights) {
      const values = w.read().dataSync() as Float32Array;
      group(g, w.originalName.slice(0, w.originalName.lastIndexOf("/")))
        .create_dataset({
          name: `${w.originalName.split("/").pop()}:0`,
          data: values,
          shape: w.shape as number[],
        });
    }
  };
  const top = layout.nested ? layers.filter((l) => l.name === "predictions") : layers;
  const names = [
    ...(layout.nested ? [layout.nested] : []),
    ...top.map((l) => l.name),
    ...(layout.extra ? ["extra"] : []),
  ];
  if (layout.chunked) {
    strings(root, "layer_names0", names.slice(0, 1));
    strings(root, "layer_names1", names.slice(1));
  } else strings(root, "layer_names", names);
  if (layout.nested) {
    write(
      group(root, layout.nested),
      layers.filter((l) => l.name !== "predictions").flatMap((l) => l.weights),
    );
  }
  for (const l of top) write(group(root, l.name), l.weights);
  if (layout.extra) {
    const g = group(root, "extra");
    strings(g, "weight_names", ["extra/kernel:0"]);
    group(g, "extra").create_dataset({ name: "kernel:0", data: new Float32Array([1, 2]), shape: [2] });
  }
  h5.close();
}

function tiny(growthRate = 4): tfl.LayersModel {
  return createDenseNet({ blocks: [2, 2], growthRate, inputSize: 32 });
}

function sameWeights(a: tfl.LayersModel, b: tfl.LayersModel): boolean {
  const wa = a.getWeights(), wb = b.getWeights();
  return wa.length === wb.length &&
    wa.every((t, i) => {
      const [x, y] = [t.dataSync(), wb[i].dataSync()];
      return x.length === y.length && x.every((v, j) => v === y[j]);
    });
}

Deno.test("keras_import: weights written in the Keras save_weights layout load by name", async () => {
  const file = join(await Deno.makeTempDir(), "weights.h5");
  const source = tiny();
  setSeededWeights(source, 21);
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
  const source = tiny();
  setSeededWeights(source, 22);
  writeKerasH5(source, file, { fullModel: true, nested: "densenet121", extra: true, chunked: true });
  const target = tiny();
  const result = await importKerasWeights(target, file);
  assert.deepEqual(result.unused, ["extra/kernel"]);
  assert.ok(sameWeights(source, target));
});

Deno.test("keras_import: an ImageNet 'notop' file needs skipLayers for the head, and says so otherwise", async () => {
  const file = join(await Deno.makeTempDir(), "notop.h5");
  const source = tiny();
  setSeededWeights(source, 23);
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
  const source = tiny(8);
  setSeededWeights(source, 24);
  writeKerasH5(source, file);
  const target = tiny(4);
  setSeededWeights(target, 25);
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
