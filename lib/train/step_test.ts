import assert from "node:assert/strict";
import { selectBackend, tf, tfl } from "../model/mod.ts";
import { maxRelDiff } from "../model/_testing.ts";
import { trainStep } from "./step.ts";
import { weightValues } from "./_testing.ts";

await selectBackend("cpu");

function model(): tfl.LayersModel {
  const m = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 5, inputShape: [3], activation: "tanh", kernelInitializer: "ones" }),
      tfl.layers.dense({ units: 2, activation: "sigmoid", kernelInitializer: "ones" }),
    ],
  });
  m.setWeights(
    m.getWeights().map((w, i) =>
      tf.mul(w, 0.1 * (i + 1)).add(tf.linspace(-0.3, 0.3, w.size).reshape(w.shape))
    ),
  );
  return m;
}

Deno.test("gradient accumulation over micro-batches gives the same update as the whole batch", async () => {
  const x = tf.tensor2d([[1, 2, 3], [0, -1, 1], [2, 0, 0], [-1, -1, 2], [0.5, 0.5, 0.5]]);
  const y = tf.tensor2d([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0]]);
  const whole = model(), micro = model();
  const lossWhole = await trainStep(whole, tf.train.sgd(0.5), x, y);
  const lossMicro = await trainStep(micro, tf.train.sgd(0.5), x, y, { microBatch: 2 });
  assert.ok(Math.abs(lossWhole - lossMicro) < 1e-6);
  const a = await weightValues(whole);
  const b = await weightValues(micro);
  assert.ok(maxRelDiff(a, b) < 1e-5, `differs by ${maxRelDiff(a, b)}`);
  const untouched = await weightValues(model());
  assert.ok(maxRelDiff(a, untouched) > 1e-3, "the step changed the weights");
  // A warm optimizer (Adam's moments exist) keeps the tensor count unchanged.
  const adam = tf.train.adam(0.01);
  await trainStep(micro, adam, x, y, { microBatch: 2 });
  const before = tf.memory().numTensors;
  await trainStep(micro, adam, x, y, { microBatch: 2 });
  assert.equal(tf.memory().numTensors, before, "no tensors leaked by a step");
  await assert.rejects(trainStep(micro, tf.train.sgd(0.1), x, y, { microBatch: 0 }), /microBatch must be/);
});
