import assert from "node:assert/strict";
import { selectBackend } from "./backend.ts";
import { createDenseNet } from "./densenet.ts";
import { trainingForward } from "./lean_forward.ts";
import { tf, tfl } from "./tf.ts";
import { gradientsAndPeak } from "./_testing.ts";

const full = (m: tfl.LayersModel, x: tf.Tensor) => m.apply(x, { training: true }) as tf.Tensor;
const run = (model: tfl.LayersModel, x: tf.Tensor, forward: typeof full) =>
  gradientsAndPeak(model, x, forward, "forward");

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`trainingForward on ${backend}: DenseNet output and gradients equal model.apply's, with a lower peak during the forward pass`, async () => {
    await selectBackend(backend);
    const model = createDenseNet({ blocks: [2, 3], growthRate: 4, inputSize: 32 });
    const x = tf.randomUniform([2, 32, 32, 1], 0, 255, "float32", 3);
    const before = tf.memory().numTensors;
    // BatchNorm moves its moving statistics on each pass: compare from the same weights.
    const weights = model.getWeights().map((w) => w.clone());
    const lean = run(model, x, trainingForward);
    model.setWeights(weights);
    const reference = run(model, x, full);
    assert.deepEqual(lean.output.dataSync(), reference.output.dataSync());
    lean.grads.forEach((g, i) =>
      assert.deepEqual(g.dataSync(), reference.grads[i]?.dataSync(), `gradient ${i}`)
    );
    assert.ok(lean.peak < 0.8 * reference.peak, `peak ${lean.peak} bytes, model.apply ${reference.peak}`);
    tf.dispose([lean.output, reference.output, ...lean.grads, ...reference.grads, ...weights]);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose(x), model.dispose();
  });
}

Deno.test("trainingForward: a layer that returns its input, and a layer used twice give model.apply's result; two outputs are refused", async () => {
  await selectBackend("cpu");
  const input = tfl.input({ shape: [3] });
  const hidden = tfl.layers.dense({ units: 4, activation: "relu", kernelInitializer: "ones" }).apply(input);
  const same = tfl.layers.activation({ activation: "linear" }).apply(hidden) as tfl.SymbolicTensor; // returns its input
  const out = tfl.layers.dense({ units: 2, kernelInitializer: "ones" }).apply(
    tfl.layers.concatenate().apply([same, hidden as tfl.SymbolicTensor]),
  ) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const x = tf.tensor2d([[1, 2, 3], [-1, 0, 1]]);
  const before = tf.memory().numTensors;
  const a = run(model, x, trainingForward), b = run(model, x, full);
  assert.deepEqual(a.output.dataSync(), b.output.dataSync());
  a.grads.forEach((g, i) => assert.deepEqual(g.dataSync(), b.grads[i]?.dataSync()));
  tf.dispose([a.output, b.output, ...a.grads, ...b.grads]);
  assert.equal(tf.memory().numTensors, before);

  const two = tfl.model({ inputs: input, outputs: [out, hidden as tfl.SymbolicTensor] });
  assert.throws(() => trainingForward(two, x), /one input and one output, this model has 1 and 2/);
  // A layer used twice (two inbound nodes): left to model.apply.
  const shared = tfl.layers.dense({ units: 3, kernelInitializer: "ones" });
  const twice = tfl.model({
    inputs: input,
    outputs: shared.apply(shared.apply(input)) as tfl.SymbolicTensor,
  });
  const y = tf.tidy(() => trainingForward(twice, x));
  const expected = tf.tidy(() => twice.apply(x, { training: true }) as tf.Tensor);
  assert.deepEqual(y.dataSync(), expected.dataSync());
  tf.dispose([x, y, expected]);
});
