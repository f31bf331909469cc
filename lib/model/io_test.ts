import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { selectBackend } from "./backend.ts";
import { createDenseNet } from "./densenet.ts";
import {
  loadModel,
  MODEL_JSON,
  ModelFileError,
  replaceFolderAtomically,
  saveModel,
  WEIGHTS_BIN,
} from "./io.ts";
import { tf } from "./tf.ts";
import { maxRelDiff, seeded, setSeededWeights } from "./_testing.ts";

await selectBackend("cpu");

Deno.test("io: a tiny DenseNet saved to a folder loads back with identical weights and predictions", async () => {
  const root = await Deno.makeTempDir();
  const dir = join(root, "model");
  const model = createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: 32 });
  setSeededWeights(model, 3);
  const result = await saveModel(model, dir);
  assert.deepEqual(readdirSync(dir).sort(), [MODEL_JSON, WEIGHTS_BIN]);
  assert.deepEqual(readdirSync(root), ["model"], "no temporary folders left behind");
  assert.equal(result.modelArtifactsInfo.weightDataBytes, model.countParams() * 4); // countParams() includes BN statistics
  const copy = await loadModel(dir);
  assert.deepEqual(copy.layers.map((l) => l.name), model.layers.map((l) => l.name));
  const x = tf.tensor4d(seeded(32 * 32, 1, 0, 255), [1, 32, 32, 1]);
  const [a, b] = [model.predict(x) as tf.Tensor, copy.predict(x) as tf.Tensor];
  assert.equal(maxRelDiff(await a.data(), await b.data()), 0);
  tf.dispose([x, a, b]);
  model.dispose();
  copy.dispose();
});

Deno.test("io: saving replaces an existing folder as a whole; a failed write leaves the old one intact", async () => {
  const root = await Deno.makeTempDir();
  const dir = join(root, "m");
  await replaceFolderAtomically(dir, (tmp) => writeFile(join(tmp, "old.txt"), "old"));
  await assert.rejects(
    replaceFolderAtomically(dir, async (tmp) => {
      await writeFile(join(tmp, "half.txt"), "x");
      throw new Error("disk full");
    }),
    /disk full/,
  );
  assert.deepEqual(readdirSync(dir), ["old.txt"]);
  await replaceFolderAtomically(dir, (tmp) => writeFile(join(tmp, "new.txt"), "new"));
  assert.deepEqual(readdirSync(dir), ["new.txt"]);
  assert.deepEqual(readdirSync(root), ["m"]);
});

Deno.test("io: loading names the file that is missing or broken", async () => {
  const dir = await Deno.makeTempDir();
  await assert.rejects(
    loadModel(dir),
    (e: unknown) => e instanceof ModelFileError && e.file === join(dir, MODEL_JSON),
  );
  writeFileSync(join(dir, MODEL_JSON), "{ not json");
  await assert.rejects(loadModel(dir), /Cannot read model from ".*model.json"/);
  writeFileSync(
    join(dir, MODEL_JSON),
    JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ["./w.bin"], weights: [] }] }),
  );
  await assert.rejects(
    loadModel(dir),
    (e: unknown) => e instanceof ModelFileError && e.file === join(dir, "w.bin"),
  );
});

Deno.test("io: a weights manifest naming a path outside the model folder is refused, not read", async () => {
  const root = await Deno.makeTempDir();
  const dir = join(root, "bundle");
  const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
  await saveModel(model, dir);
  model.dispose();
  // The real weights sit outside the folder: a loader that follows "../" would load them without complaint.
  const outside = join(root, "outside.bin");
  await Deno.copyFile(join(dir, WEIGHTS_BIN), outside);
  const manifestFile = join(dir, MODEL_JSON);
  const json = JSON.parse(await Deno.readTextFile(manifestFile));
  for (const path of ["../outside.bin", outside, "./sub/../../outside.bin"]) {
    json.weightsManifest[0].paths = [path];
    await Deno.writeTextFile(manifestFile, JSON.stringify(json));
    await assert.rejects(loadModel(dir), (e: unknown) => {
      assert.ok(e instanceof ModelFileError, String(e));
      assert.match(
        e.message,
        /Cannot read weights listed in ".*model\.json": the path ".*" leaves the model folder/,
      );
      assert.equal(e.file, manifestFile);
      return true;
    });
  }
  await Deno.remove(join(dir, WEIGHTS_BIN));
  await Deno.symlink(outside, join(dir, WEIGHTS_BIN));
  json.weightsManifest[0].paths = [`./${WEIGHTS_BIN}`];
  await Deno.writeTextFile(manifestFile, JSON.stringify(json));
  await assert.rejects(loadModel(dir), /leaves the model folder \(through a symbolic link\)/);
  await Deno.remove(join(dir, WEIGHTS_BIN));
  await Deno.copyFile(outside, join(dir, WEIGHTS_BIN));
  (await loadModel(dir)).dispose();
});
