import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../../tests/_fixtures.ts";
import { createDenseNet, selectBackend, tf, type tfl } from "../model/mod.ts";
import { randomBatch as batch, writeSyntheticCache } from "./_testing.ts";
import { kerasAdam } from "./optimizer.ts";
import { freezeLayers, seedKernels } from "./init.ts";
import { train } from "./fit.ts";
import { readHistory } from "./history.ts";
import { findLatestCheckpoint } from "./checkpoint.ts";
import { GradientWorkerError, startGradientWorkers } from "./parallel.ts";
import { killWorkerAtNextStep } from "./_gradient_protocol.ts";
import { computeGradients, trainStep } from "./step.ts";

await selectBackend("wasm");

/** Two models with the same weights, the same on every run (seeded kernels). */
function twins(): [tfl.LayersModel, tfl.LayersModel] {
  const a = createDenseNet({ blocks: [2, 2], growthRate: 4, inputSize: 32, name: "a" });
  const b = createDenseNet({ blocks: [2, 2], growthRate: 4, inputSize: 32, name: "b" });
  seedKernels(a, 7);
  b.setWeights(a.getWeights());
  return [a, b];
}

/** The largest difference between the two models' weights (trainable and moving statistics), relative. */
function weightGap(a: tfl.LayersModel, b: tfl.LayersModel): number {
  const other = b.getWeights();
  return tf.tidy(() =>
    Math.max(
      ...a.getWeights().map((w, i) =>
        tf.max(tf.div(tf.abs(tf.sub(w, other[i] ?? NaN)), tf.maximum(tf.abs(w), 1))).arraySync() as number
      ),
    )
  );
}

for (const threads of [2, 3]) {
  Deno.test(`data parallel, ${threads} threads: first-step gradients equal to 1e-5, BatchNorm statistics moved as by one thread, 20 Adam steps give the same losses`, async () => {
    const [one, many] = twins();
    const initial = one.getWeights().map((w) => w.clone());
    using workers = await startGradientWorkers(many, { workers: threads });
    assert.equal(workers.size, threads);
    const [x, y] = batch(1);
    // micro-batches of 2: 4 of them, split 2+2 or 1+1+2
    const single = await computeGradients(one, x, y, { microBatch: 2 });
    const parallel = await workers.computeGradients(x, y, { microBatch: 2 });
    assert.ok(
      Math.abs(single.loss - parallel.loss) <= 1e-6 * single.loss,
      `${single.loss} vs ${parallel.loss}`,
    );
    const names = Object.keys(single.grads);
    assert.equal(Object.keys(parallel.grads).length, names.length);
    const manyNames = many.trainableWeights.map((w) => (w.read() as tf.Variable).name);
    names.forEach((name, k) => {
      const a = single.grads[name], b = parallel.grads[manyNames[k] ?? ""];
      assert.ok(a && b, `${name}: a gradient is missing`);
      const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).arraySync() as number);
      assert.ok(gap <= 1e-5, `${name}: gradients differ by ${gap}`);
    });
    // Every BatchNorm layer moved once per micro-batch, in batch order.
    const bnLayers = many.layers.filter((l) => l.getClassName() === "BatchNormalization").length;
    assert.equal(parallel.updates.length, 4 * bnLayers);
    tf.dispose([...Object.values(single.grads), ...Object.values(parallel.grads)]);

    // Steps: `one` in one thread, `many` with the workers, from the same weights and Adam state.
    one.setWeights(initial), many.setWeights(initial); // the single-thread pass above moved `one`'s statistics
    tf.dispose(initial);
    const optOne = kerasAdam(1e-3), optMany = kerasAdam(1e-3);
    const losses: [number, number][] = [];
    for (let step = 0; step < 20; step++) {
      const [xs, ys] = batch(10 + step % 2); // two batches in turn: the loss has something to learn
      losses.push([
        await trainStep(one, optOne, xs, ys, { microBatch: 2 }),
        await trainStep(many, optMany, xs, ys, { microBatch: 2, workers }),
      ]);
      tf.dispose([xs, ys]);
      if (step === 0) assert.ok(weightGap(one, many) <= 1e-5, `after one step: ${weightGap(one, many)}`);
    }
    for (const [l1, l2] of losses) assert.ok(Math.abs(l1 - l2) <= 0.01 * l1, `losses ${l1} vs ${l2}`);
    // Not the weights after 20 steps: Adam divides by the root of each gradient's running square, so for
    // gradients near zero the last bit of a sum's order moves a weight by up to the learning rate per step.
    const [first] = losses, last = losses.at(-1);
    assert.ok(first && last && last[0] < first[0], "the loss went down");
    tf.dispose([x, y]);
    optOne.dispose(), optMany.dispose(), one.dispose(), many.dispose();
  });
}

Deno.test("data parallel with a frozen backbone: only the head gets gradients, frozen BatchNorm statistics stay", async () => {
  const [one, many] = twins();
  freezeLayers(one, "backbone"), freezeLayers(many, "backbone");
  using workers = await startGradientWorkers(many, { workers: 2 });
  const [x, y] = batch(3);
  const before = many.getWeights().map((w) => w.dataSync().slice());
  const opt = kerasAdam(1e-2), optOne = kerasAdam(1e-2);
  await trainStep(many, opt, x, y, { microBatch: 2, workers });
  await trainStep(one, optOne, x, y, { microBatch: 2 });
  const after = many.getWeights().map((w) => w.dataSync());
  assert.equal(after.length, before.length);
  const changed = many.weights.filter((_, i) => after[i]?.some((v, j) => v !== before[i]?.[j]))
    .map((w) => w.originalName);
  assert.deepEqual(changed, ["predictions/kernel", "predictions/bias"]);
  assert.ok(weightGap(one, many) <= 1e-5);
  tf.dispose([x, y]), opt.dispose(), optOne.dispose(), one.dispose(), many.dispose();
});

Deno.test("data parallel: a worker that dies fails the step naming it, and the pool refuses further steps", async () => {
  const [one, many] = twins();
  one.dispose();
  const workers = await startGradientWorkers(many, { workers: 3 });
  const [x, y] = batch(4);
  killWorkerAtNextStep(2);
  await assert.rejects(workers.computeGradients(x, y, { microBatch: 2 }), (e) => {
    assert.ok(e instanceof GradientWorkerError);
    assert.equal(e.worker, 2);
    assert.match(e.message, /^Gradient worker 2 of 2 failed: .*told to die/);
    return true;
  });
  await assert.rejects(workers.computeGradients(x, y, { microBatch: 2 }), /Gradient worker 2 of 2 failed/);
  workers.close();
  await assert.rejects(workers.computeGradients(x, y), /were closed/);
  tf.dispose([x, y]), many.dispose();
});

for (const engine of ["tfjs", "onnx"] as const) {
  Deno.test(`train --engine ${engine} --workers 2: the same loss curve as one thread; a worker dying mid-epoch leaves the last checkpoint, and the next run resumes from it`, async () => {
    using dir = tempDir();
    const cache = await writeSyntheticCache(dir.path, { images: 60, size: 16, seed: 5 });
    // tfjs backends or ONNX Runtime sessions, one per worker; one thread each, so that "one" is one thread too.
    const settings = { arch: "tiny", epochs: 3, batchSize: 8, microBatch: 2, seed: 3, engine } as const; // 3 x 8 = 24 steps
    const one = await train(cache, join(dir.path, "one"), { ...settings, workers: 1 });
    const starts: number[] = [];
    const tensors = tf.memory().numTensors;
    const two = await train(cache, join(dir.path, "two"), {
      ...settings,
      workers: 2,
      onProgress: (e) => e.type === "start" && starts.push(e.workers ?? 1),
    });
    assert.deepEqual(starts, [2]);
    assert.equal(tf.memory().numTensors, tensors, "train() with workers leaves no tensors behind");
    const [h1, h2] = [readHistory(one.history), readHistory(two.history)];
    assert.deepEqual(h2.map((h) => h.epoch), [1, 2, 3]);
    for (const [i, a] of h1.slice(0, 2).entries()) {
      const b = h2[i]!;
      assert.ok(Math.abs(a.loss - b.loss) <= 0.01 * a.loss, `epoch ${i + 1}: ${a.loss} vs ${b.loss}`);
      assert.ok(Math.abs(a.val_loss - b.val_loss) <= 0.01 * a.val_loss);
    }

    // A worker dies in epoch 2: train fails naming it; epoch 1's checkpoint is intact and the rerun resumes.
    const out = join(dir.path, "dies");
    await assert.rejects(
      train(cache, out, {
        ...settings,
        workers: 2,
        onProgress: (e) => e.type === "batch" && e.epoch === 2 && e.batch === 2 && killWorkerAtNextStep(1),
      }),
      /Gradient worker 1 of 1 failed/,
    );
    assert.match((await findLatestCheckpoint(join(out, "checkpoints")))!, /epoch-001-/);
    assert.deepEqual(readHistory(join(out, "history.jsonl")).map((h) => h.epoch), [1]);
    const resumed = await train(cache, out, { ...settings, workers: 2 });
    assert.match(resumed.resumedFrom!, /epoch-001-/);
    assert.equal(resumed.epochs, 3);
    const h3 = readHistory(resumed.history);
    assert.deepEqual(h3.map((h) => h.epoch), [1, 2, 3]);
    for (const [i, h] of h3.entries()) {
      const a = h1[i];
      assert.ok(a && (i === 0 || Math.abs(h.loss - a.loss) <= 0.01 * a.loss), `epoch ${i + 1}`);
    }
  });
}
