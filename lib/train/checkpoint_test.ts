import assert from "node:assert/strict";
import { tempDir } from "../../tests/_fixtures.ts";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDenseNet, selectBackend, tf } from "../model/mod.ts";
import { maxRelDiff, setSeededWeights } from "../model/_testing.ts";
import {
  CheckpointError,
  findLatestCheckpoint,
  loadCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
} from "./checkpoint.ts";
import { fixedBatch, trainState as state, weightValues } from "./_testing.ts";
import { trainStep } from "./step.ts";

await selectBackend("cpu");

Deno.test("a step after save + load equals the step the original run would have taken (Adam moments kept)", async () => {
  using dir = tempDir();
  const [x, y] = fixedBatch();
  const model = createDenseNet({ blocks: [1], growthRate: 2, inputSize: 8 });
  setSeededWeights(model, 4);
  const optimizer = tf.train.adam(0.01);
  await trainStep(model, optimizer, x, y);
  await trainStep(model, optimizer, x, y);
  const saved = await saveCheckpoint(dir.path, model, optimizer, state(2, 0.25));
  assert.match(saved, /epoch-002-val-0\.2500$/);

  await trainStep(model, optimizer, x, y);
  const continued = await weightValues(model);

  const ckpt = await loadCheckpoint(saved);
  assert.equal(ckpt.state.epoch, 2);
  const resumed = tf.train.adam(0.01);
  await resumed.setWeights(ckpt.optimizerWeights);
  tf.dispose(ckpt.optimizerWeights.map((w) => w.tensor));
  await trainStep(ckpt.model, resumed, x, y);
  const after = await weightValues(ckpt.model);
  assert.equal(after.length, continued.length);
  assert.ok(maxRelDiff(after, continued) < 1e-5, `differs by ${maxRelDiff(after, continued)}`);

  // Without the moments the step would differ: the test can tell.
  const fresh = await loadCheckpoint(saved);
  tf.dispose(fresh.optimizerWeights.map((w) => w.tensor));
  await trainStep(fresh.model, tf.train.adam(0.01), x, y);
  assert.ok(maxRelDiff(await weightValues(fresh.model), continued) > 1e-3);
  tf.dispose([x, y]);
});

Deno.test("findLatestCheckpoint picks the highest epoch with a state file; prune keeps the newest", async () => {
  using dir = tempDir();
  const model = createDenseNet({ blocks: [1], growthRate: 2, inputSize: 8 });
  const optimizer = tf.train.adam();
  for (const [e, v] of [[9, 0.3], [10, 0.2], [2, 0.5]] as const) {
    await saveCheckpoint(dir.path, model, optimizer, state(e, v));
  }
  // A half-written folder (no train_state.json) and a temporary folder are ignored.
  mkdirSync(join(dir.path, "epoch-011-val-0.1000"));
  mkdirSync(join(dir.path, ".epoch-012-val-0.1000.tmp-x"));
  assert.equal(await findLatestCheckpoint(dir.path), join(dir.path, "epoch-010-val-0.2000"));
  await pruneCheckpoints(dir.path, 2);
  assert.deepEqual(
    Deno.readDirSync(dir.path).map((e) => e.name).filter((n) => !n.startsWith(".")).toArray().sort(),
    ["epoch-010-val-0.2000", "epoch-011-val-0.1000"],
  );
});

Deno.test("loadCheckpoint names the folder when the state is unreadable or from another format", async () => {
  using dir = tempDir();
  const model = createDenseNet({ blocks: [1], growthRate: 2, inputSize: 8 });
  const saved = await saveCheckpoint(dir.path, model, tf.train.adam(), state(1, 0.5));
  writeFileSync(join(saved, "train_state.json"), JSON.stringify({ ...state(1, 0.5), format: "x/9" }));
  await assert.rejects(loadCheckpoint(saved), (e: Error) => {
    assert.ok(e instanceof CheckpointError);
    assert.match(e.message, /epoch-001-val-0\.5000.*format "x\/9", expected "cxr-train-state\/1"/);
    return true;
  });
  Deno.removeSync(join(saved, "optimizer.bin"));
  await assert.rejects(loadCheckpoint(saved), CheckpointError);
});
