import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FINDINGS } from "../nih/classes.ts";
import { selectBackend } from "./backend.ts";
import { BundleMismatchError, LabelMismatchError, loadBundle, METADATA_JSON, saveBundle } from "./bundle.ts";
import { BundleMetadataSyntaxError, parseBundleMetadata } from "./bundle_format.ts";
import { createDenseNet } from "./densenet.ts";
import { IMAGENET_NORMALIZATION } from "./normalize.ts";
import { tf } from "./tf.ts";
import { maxRelDiff, seeded, setSeededWeights } from "./_testing.ts";

await selectBackend("cpu");

function tiny() {
  const model = createDenseNet({ blocks: [2], growthRate: 4, inputSize: 32 });
  setSeededWeights(model, 5);
  return model;
}

Deno.test("bundle: save and load keep metadata and predictions", async () => {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = tiny();
  const metadata = await saveBundle(model, dir, {
    modelVersion: "test-1",
    metrics: { valLoss: 0.25, meanAuroc: 0.61 },
    splitDigest: "sha256:abc",
    architecture: { name: "densenet", blocks: [2], growthRate: 4 },
    createdAt: new Date("2026-11-25T12:00:00Z"),
  });
  assert.deepEqual(metadata, {
    formatVersion: 1,
    classNames: [...FINDINGS],
    inputSize: 32,
    channels: 1,
    normalization: {
      ...IMAGENET_NORMALIZATION,
      mean: [...IMAGENET_NORMALIZATION.mean],
      std: [...IMAGENET_NORMALIZATION.std],
    },
    modelVersion: "test-1",
    createdAt: "2026-11-25T12:00:00.000Z",
    architecture: { name: "densenet", blocks: [2], growthRate: 4 },
    metrics: { valLoss: 0.25, meanAuroc: 0.61 },
    splitDigest: "sha256:abc",
  });
  const bundle = await loadBundle(dir);
  assert.deepEqual(bundle.metadata, metadata);
  const x = tf.tensor4d(seeded(32 * 32, 2, 0, 255), [1, 32, 32, 1]);
  const [a, b] = [model.predict(x) as tf.Tensor, bundle.model.predict(x) as tf.Tensor];
  assert.equal(maxRelDiff(await a.data(), await b.data()), 0);
  tf.dispose([x, a, b]);
  model.dispose();
  bundle.model.dispose();
});

Deno.test("bundle: a bundle with other class names is refused, naming each difference", async () => {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = tiny();
  const names: string[] = [...FINDINGS];
  names.splice(3, 2, FINDINGS[4], FINDINGS[3]);
  await saveBundle(model, dir, { classNames: names });
  model.dispose();
  const error = await assert.rejects(loadBundle(dir), (e: unknown) => {
    assert.ok(e instanceof LabelMismatchError);
    assert.deepEqual(e.differences, [
      'position 4: expected "Infiltration", found "Mass"',
      'position 5: expected "Mass", found "Infiltration"',
    ]);
    return true;
  });
  assert.equal(error, undefined);
  const loaded = await loadBundle(dir, { expectedClasses: names });
  loaded.model.dispose();
});

Deno.test("bundle: a model that disagrees with its metadata is refused", async () => {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = tiny();
  await saveBundle(model, dir);
  model.dispose();
  const file = join(dir, METADATA_JSON);
  const meta = JSON.parse(readFileSync(file, "utf8"));
  writeFileSync(file, JSON.stringify({ ...meta, inputSize: 64 }));
  await assert.rejects(loadBundle(dir), BundleMismatchError);
  await assert.rejects(
    saveBundle(tiny(), dir, { classNames: ["a", "b"] }),
    /2 class names for a model with 14 outputs/,
  );
});

Deno.test("bundle: unreadable metadata is a BundleMetadataSyntaxError with file, line and column", async () => {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = tiny();
  await saveBundle(model, dir);
  model.dispose();
  const file = join(dir, METADATA_JSON);
  writeFileSync(file, '{\n  "formatVersion": 1,\n  "classNames": [,]\n}');
  await assert.rejects(loadBundle(dir), (e: unknown) => {
    assert.ok(e instanceof BundleMetadataSyntaxError && e instanceof SyntaxError);
    assert.equal(e.file, file);
    assert.equal(e.line, 3);
    assert.equal(e.column, 18);
    assert.match(e.message, /^Cannot read bundle metadata from ".*metadata.json" at line 3, column 18: /);
    return true;
  });
  const good = {
    formatVersion: 1,
    classNames: ["a"],
    inputSize: 8,
    channels: 1,
    normalization: null,
    modelVersion: "v",
    createdAt: "t",
    architecture: {},
    metrics: { auc: 0.5 },
    splitDigest: null,
  };
  assert.deepEqual(parseBundleMetadata(JSON.stringify(good), "m.json"), good);
  for (
    const [patch, pattern] of [
      [{ formatVersion: 2 }, /newer than this code reads/],
      [{ inputSize: 0 }, /inputSize must be a positive integer/],
      [{ classNames: [] }, /classNames must be a non-empty array/],
      [{ metrics: { auc: "high" } }, /metrics.auc must be a number/],
      [{ normalization: { inputScale: 255, mean: [0], std: [0] } }, /normalization is invalid/],
      [{ splitDigest: 5 }, /splitDigest must be a string or null/],
    ] as const
  ) {
    assert.throws(() => parseBundleMetadata(JSON.stringify({ ...good, ...patch }), "m.json"), pattern);
  }
});

Deno.test("bundle: weights provenance (init, file, md5, freeze) round-trips, and a bad one is named", async () => {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = tiny();
  const weights = {
    init: "imagenet" as const,
    file: "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
    md5: "4912a53fbd2a69346e7f2c0b5ec8c6d3",
    url: "https://example.org/densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
    loaded: 604,
    missing: [],
    freeze: "backbone",
  };
  const metadata = await saveBundle(model, dir, { modelVersion: "w", weights });
  assert.deepEqual(metadata.weights, weights);
  const bundle = await loadBundle(dir);
  assert.deepEqual(bundle.metadata.weights, weights);
  bundle.model.dispose();
  const old = await saveBundle(model, join(dir, "..", "old"), { modelVersion: "o" });
  assert.equal("weights" in old, false);
  const text = JSON.stringify({ ...metadata, weights: { init: "elsewhere" } }, null, 2);
  assert.throws(
    () => parseBundleMetadata(text, "metadata.json"),
    /metadata.json" at line \d+, column \d+: weights.init must be one of imagenet, none, file, keras/,
  );
  model.dispose();
});

Deno.test("bundle: MODEL_CARD.md is written from the metadata (start, weights file, metrics, limits)", async () => {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = tiny();
  await saveBundle(model, dir, {
    modelVersion: "tiny-epoch-002",
    metrics: { val_loss: 0.31, mean_auroc: 0.8123 },
    weights: {
      init: "file",
      file: "colleague.h5",
      md5: "0123456789abcdef0123456789abcdef",
      loaded: 40,
      freeze: "backbone",
    },
  });
  const card = readFileSync(join(dir, "MODEL_CARD.md"), "utf8");
  assert.match(card, /^# Model card: tiny-epoch-002\n/);
  assert.match(card, /Weights file: `colleague.h5`, md5 `0123456789abcdef0123456789abcdef`/);
  assert.match(card, /only the `predictions` head was trained/);
  assert.match(card, /\| mean_auroc \| 0\.8123 \|/);
  assert.match(card, /not a medical device/);
  assert.match(card, /in this order: Atelectasis, Cardiomegaly, /);
  model.dispose();
});
