import assert from "node:assert/strict";
import { tempDir } from "../../tests/_fixtures.ts";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createDenseNet, loadBundle, saveBundle, selectBackend, tf } from "../model/mod.ts";
import { writeSyntheticCache } from "./_testing.ts";
import { CheckpointError } from "./checkpoint.ts";
import type { TrainEvent } from "./events.ts";
import { train } from "./fit.ts";
import { readHistory } from "./history.ts";

await selectBackend("wasm");

Deno.test("train: epochs, history, best bundle, pruned checkpoints, no leaked tensors; settings checked on resume", async () => {
  using dir = tempDir();
  const cache = await writeSyntheticCache(dir.path, { images: 60, size: 16, seed: 2 });
  const out = join(dir.path, "run");
  const events: TrainEvent[] = [];
  const before = tf.memory().numTensors;
  const settings = { arch: "tiny", batchSize: 6, weightedLoss: true } as const;
  const summary = await train(cache, out, {
    ...settings,
    epochs: 3,
    microBatch: 2,
    keepCheckpoints: 2,
    onProgress: (e) => events.push(e),
  });
  assert.equal(tf.memory().numTensors, before, "train() leaves no tensors behind");
  assert.equal(summary.epochs, 3);
  assert.equal(summary.resumedFrom, null);
  assert.equal(events[0]?.type, "init");
  const start = events[1];
  assert.ok(
    start?.type === "start" && start.microBatch === 2 && start.batchSize === 6 && start.startEpoch === 1,
  );
  const steps = events.filter((e) => e.type === "batch");
  assert.equal(steps.length, 3 * Math.ceil(start.train / 6));
  assert.ok(steps.every((e) => e.type === "batch" && e["images/s"]! > 0), "every step reports images/s");
  const history = readHistory(summary.history);
  assert.deepEqual(history.map((h) => h.epoch), [1, 2, 3]);
  assert.deepEqual(Object.keys(history[0]?.val_auroc ?? {}).length, 14);
  assert.ok(history.every((h) => Number.isFinite(h.loss) && h.lr === 1e-3 && h["images/s"] > 0));
  const kept = readdirSync(join(out, "checkpoints")).filter((n) => !n.startsWith(".")).sort();
  // The newest two, and the best epoch's (never pruned).
  assert.ok(kept.length === 2 || kept.length === 3, kept.join());
  assert.ok(kept.some((n) => n.startsWith(`epoch-${String(summary.best.epoch).padStart(3, "0")}-`)));
  assert.ok(kept.at(-1)!.startsWith("epoch-003-"));
  const best = await loadBundle(summary.bundle);
  assert.equal(best.metadata.metrics.epoch, summary.best.epoch);
  assert.equal(best.metadata.metrics.val_loss, summary.best.val_loss);
  assert.match(best.metadata.splitDigest ?? "", /^[0-9a-f]{64}$/);
  // What the model card needs: data, settings, and the time of every epoch up to the best one.
  const upToBest = history.filter((h) => h.epoch <= summary.best.epoch);
  assert.ok(start.type === "start");
  assert.deepEqual(best.metadata.training, {
    source: "NIH ChestX-ray14",
    splitMethod: "official",
    images: { train: start.train, val: start.val },
    epochs: summary.best.epoch,
    batchSize: 6,
    microBatch: 2,
    backend: start.backend,
    seconds: upToBest.reduce((t, h) => t + h.seconds, 0),
    lr: 1e-3,
    seed: 0,
    weightedLoss: true,
  });
  assert.match(
    readFileSync(join(summary.bundle, "MODEL_CARD.md"), "utf8"),
    new RegExp(
      `Epochs: ${summary.best.epoch}; batch 6 images per step \\(gradients accumulated over passes of 2\\)`,
    ),
  );
  best.model.dispose();

  // Asking for more epochs resumes; other settings refuse to resume, unless resume is off.
  await assert.rejects(
    train(cache, out, { ...settings, epochs: 4, batchSize: 4 }),
    (e) => {
      assert.ok(e instanceof CheckpointError);
      assert.match(e.message, /epoch-003-val-.*batchSize: 6 there, 4 now.*--no-resume/);
      return true;
    },
  );
  // A kill between writing best/ and the checkpoint of its epoch leaves best/ ahead of the state: resume repairs it.
  const stray = createDenseNet({ blocks: [1], growthRate: 2, inputSize: 16 });
  await saveBundle(stray, summary.bundle, { metrics: { epoch: 99 } });
  stray.dispose();
  let bestAtStart: number | undefined;
  const more = await train(cache, out, {
    ...settings,
    epochs: 4,
    onProgress: (e) => {
      if (e.type === "start") {
        bestAtStart = JSON.parse(readFileSync(join(summary.bundle, "metadata.json"), "utf8")).metrics.epoch;
      }
    },
  });
  assert.equal(bestAtStart, summary.best.epoch);
  assert.match(more.resumedFrom ?? "", /epoch-003-val-/);
  assert.equal(readHistory(more.history).length, 4);
  const fresh = await train(cache, out, { arch: "tiny", epochs: 1, batchSize: 4, resume: false });
  assert.equal(fresh.resumedFrom, null);
  assert.deepEqual(readHistory(fresh.history).map((h) => h.epoch), [1]);
  assert.deepEqual(readdirSync(join(out, "checkpoints")).map((n) => n.slice(0, 9)), ["epoch-001"]);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("train checks its options before touching the cache", async () => {
  await assert.rejects(
    train("/nonexistent", "/tmp/x", { epochs: 0 }),
    /epochs must be a positive integer, got 0/,
  );
  await assert.rejects(
    train("/nonexistent", "/tmp/x", { arch: "resnet" as "tiny" }),
    /unknown arch "resnet"/,
  );
});
