import assert from "node:assert/strict";
import { tempDir } from "../../tests/_fixtures.ts";
import { createDenseNet, selectBackend, tf } from "../model/mod.ts";
import { maxRelDiff, setSeededWeights } from "../model/_testing.ts";
import { loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { fixedBatch, trainState, weightValues } from "./_testing.ts";
import { kerasAdam } from "./optimizer.ts";
import { trainStep } from "./step.ts";

await selectBackend("cpu");

/** Keras' Adam in double precision: the moments, then lr_t · m / (√v + ε). */
function kerasSteps(w0: number[], grads: number[][], lrs: number[]): number[] {
  const [b1, b2, eps] = [0.9, 0.999, 1e-7];
  const w = [...w0], m = w.map(() => 0), v = w.map(() => 0);
  grads.forEach((g, s) => {
    const t = s + 1;
    const lrT = lrs[s]! * Math.sqrt(1 - b2 ** t) / (1 - b1 ** t);
    for (let i = 0; i < w.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      w[i]! -= lrT * m[i]! / (Math.sqrt(v[i]!) + eps);
    }
  });
  return w;
}

Deno.test("kerasAdam: three steps follow Keras' update rule, including a changed learning rate", async () => {
  const w0 = [0.5, -1, 2, 0.25];
  const grads = [[0.3, -2e-6, 1e-6, 0], [0.1, 1e-3, -1e-6, 0.5], [-0.2, 4e-6, 1e-6, 0.5]];
  const lrs = [0.1, 0.1, 0.05];
  const run = async (optimizer: tf.Optimizer) => {
    const w = tf.tidy(() => tf.variable(tf.tensor1d(w0)));
    for (const [s, g] of grads.entries()) {
      (optimizer as unknown as { learningRate: number }).learningRate = lrs[s]!;
      tf.tidy(() => optimizer.applyGradients({ [w.name]: tf.tensor1d(g) }));
    }
    const out = [...await w.data()];
    w.dispose();
    optimizer.dispose();
    return out;
  };
  const before = tf.memory().numTensors;
  const expected = kerasSteps(w0, grads, lrs);
  const ours = await run(kerasAdam(0.1));
  assert.equal(tf.memory().numTensors, before, "dispose frees the moments");
  assert.ok(maxRelDiff(ours, expected) < 1e-6, `${ours} vs ${expected}`);
  // tfjs' Adam adds ε to √v̂: the near-zero gradients move the weights visibly differently.
  const tfjs = await run(tf.train.adam(0.1));
  assert.ok(maxRelDiff(tfjs, expected) > 1e-2, `tf.train.adam ${tfjs} vs ${expected}`);
  assert.throws(() => kerasAdam(0), /learningRate must be > 0/);
  assert.throws(() => kerasAdam(1e-3, { beta2: 1 }), /beta2 must be in \[0, 1\)/);
});

Deno.test("kerasAdam: a checkpoint restores its moments, and tfjs Adam's checkpoints restore into it", async () => {
  using dir = tempDir();
  const [x, y] = fixedBatch();
  const model = createDenseNet({ blocks: [1], growthRate: 2, inputSize: 8 });
  setSeededWeights(model, 4);
  const optimizer = kerasAdam(0.01);
  await trainStep(model, optimizer, x, y);
  await trainStep(model, optimizer, x, y);
  const saved = await saveCheckpoint(dir.path, model, optimizer, trainState(1, 0.5));
  await trainStep(model, optimizer, x, y);
  const continued = await weightValues(model);

  const ckpt = await loadCheckpoint(saved);
  const resumed = kerasAdam(0.01);
  await resumed.setWeights(ckpt.optimizerWeights);
  tf.dispose(ckpt.optimizerWeights.map((w) => w.tensor));
  assert.equal(resumed.iterations, 2);
  await trainStep(ckpt.model, resumed, x, y);
  const after = await weightValues(ckpt.model);
  assert.ok(maxRelDiff(after, continued) < 1e-5, `differs by ${maxRelDiff(after, continued)}`);

  // tfjs' AdamOptimizer writes the same layout (iterations, every m, every v), so its moments carry over.
  const tfjs = tf.train.adam(0.01);
  await trainStep(ckpt.model, tfjs, x, y);
  const expected = await tfjs.getWeights();
  const crossed = kerasAdam(0.01);
  await crossed.setWeights(expected.map((w) => ({ name: w.name, tensor: tf.clone(w.tensor) })));
  const got = await crossed.getWeights();
  assert.deepEqual(got.map((w) => w.name), expected.map((w) => w.name));
  for (const [i, w] of got.entries()) {
    const want = expected[i];
    assert.ok(want);
    assert.deepEqual([...await w.tensor.data()], [...await want.tensor.data()], w.name);
  }
  tf.dispose([x, y, ...got.slice(0, 1).map((w) => w.tensor), ...expected.slice(0, 1).map((w) => w.tensor)]);
  for (const o of [optimizer, resumed, tfjs, crossed]) o.dispose();
  for (const m of [model, ckpt.model]) m.dispose();
});
