/**
 * `deno task cxr import keras` as a real subprocess: the seed's kind of file (keras-contrib DenseNet saved
 * with `model.save` through a `multi_gpu_model` wrapper, auto-generated names, 3-channel 0..255 input),
 * written here with h5wasm, becomes a bundle that `cxr score` and `cxr evaluate` take as they take a trained
 * one, scoring real NIH PNGs as the source model scores them replicated to 3 channels 0..255.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, runCxr, tempDir } from "./_fixtures.ts";
import { selectBackend, tf } from "../lib/model/mod.ts";
import { decodeImage } from "../lib/images/mod.ts";
import { FINDINGS } from "../lib/nih/mod.ts";
import { writeTestCache } from "../lib/eval/_testing.ts";
import { createContribDenseNet, h5Ready, writeKerasH5 } from "../lib/model/_keras_h5_testing.ts";

await selectBackend("cpu");
await h5Ready;

const SIZE = 32;
const ENV = { CXR_BACKEND: "cpu" };
const IMAGES = join(NIH_SAMPLE, "images");
const PNGS = readdirSync(IMAGES).filter((n) => n.endsWith(".png")).sort().slice(0, 2).map((n) =>
  join(IMAGES, n)
);

Deno.test("import keras: the seed's wrapped keras-contrib model.save file becomes a bundle score and evaluate take", async () => {
  using dir = tempDir();
  const source = createContribDenseNet({ blocks: [2, 2], growthRate: 4, inputSize: SIZE, seed: 41 });
  const file = join(dir.path, "seed_multi_gpu.h5");
  writeKerasH5(source, file, { modelConfig: true, multiGpu: true });
  const bundle = join(dir.path, "bundle");

  const r = await runCxr([
    "import",
    "keras",
    file,
    "--out",
    bundle,
    "--backend",
    "cpu",
    "--name",
    "seed",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.deepEqual(
    [summary.layout, summary.unwrapped, summary.flavor, summary.mapping, summary.input, summary.inputSize],
    ["whole-model", ["model_1"], "contrib", "order", "raw255", SIZE],
  );
  assert.ok(summary.onnx.check.maxAbsDiff <= 1e-5);
  assert.deepEqual(readdirSync(bundle).sort(), [
    "MODEL_CARD.md",
    "metadata.json",
    "model.json",
    "model.onnx",
    "weights.bin",
  ]);

  // cxr score on real NIH PNGs (ONNX Runtime, as serving runs it) = the source model on the grey image x 3.
  const scored = await runCxr(["score", "--model", bundle, ...PNGS], { env: ENV });
  assert.equal(scored.code, 0, scored.stderr);
  const lines = scored.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  const grey = new Uint8Array(2 * SIZE * SIZE);
  for (const [i, png] of PNGS.entries()) grey.set(await decodeImage(png, SIZE), i * SIZE * SIZE);
  const expected = tf.tidy(() =>
    source.predict(
      tf.tile(tf.tensor4d(Float32Array.from(grey), [2, SIZE, SIZE, 1]), [1, 1, 1, 3]),
    ) as tf.Tensor
  );
  const want = await expected.data();
  expected.dispose();
  lines.forEach((line, i) => {
    assert.deepEqual(line.model, { name: "seed", version: summary.modelVersion });
    FINDINGS.forEach((f, k) => {
      assert.ok(
        Math.abs(line.probabilities[f] - (want[i * 14 + k] ?? NaN)) <= 1e-5,
        `${f}: ${line.probabilities[f]}`,
      );
    });
  });

  // cxr evaluate on a cache, as for a trained bundle.
  writeTestCache(dir.path, "test", 24, SIZE);
  const ev = await runCxr(
    [
      "evaluate",
      "--model",
      bundle,
      "--cache",
      dir.path,
      "--partition",
      "test",
      "--bootstrap",
      "20",
      "--json",
    ],
    { env: ENV },
  );
  assert.equal(ev.code, 0, ev.stderr);
  const report = JSON.parse(ev.stdout);
  assert.equal(report.images, 24);
  assert.deepEqual(report.model, { version: summary.modelVersion, engine: "onnx" });
  source.dispose();
});

Deno.test("import keras: usage errors exit 2; a misshapen layer exits 1 naming the first mismatch", async () => {
  using dir = tempDir();
  const source = createContribDenseNet({ blocks: [1, 1], growthRate: 4, inputSize: SIZE, seed: 42 });
  const file = join(dir.path, "bad.h5");
  writeKerasH5(source, file, { misshape: { "conv2d_3/kernel": [3, 3, 16, 6] } });
  source.dispose();
  const out = join(dir.path, "bundle");
  const noOut = await runCxr(["import", "keras", file]);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /--out is required/);
  const badInput = await runCxr(["import", "keras", file, "--out", out, "--input", "bgr"]);
  assert.equal(badInput.code, 2);
  assert.match(badInput.stderr, /--input must be one of: raw255, imagenet; got "bgr"/);
  const noFile = await runCxr(["import", "keras", "--out", out]);
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /expected one Keras file \(FILE\.h5\), got 0/);
  const bad = await runCxr(["import", "keras", file, "--out", out, "--backend", "cpu", "--size", "32"]);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /KerasModelImportError: .*bad\.h5": weight-carrying layer 6 does not match .*: model "conv2_block1_2_conv" kernel \[3,3,16,4\], file "conv2d_3" kernel \[3,3,16,6\]/,
  );
});
