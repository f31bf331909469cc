import assert from "node:assert/strict";
import { selectBackend } from "./backend.ts";
import { createDenseNet } from "./densenet.ts";
import { setLeanBackprop } from "./_lean_backprop.ts";
import { tf, tfl } from "./tf.ts";
import { gradientsAndPeak } from "./_testing.ts";

/** The gradients of a small DenseNet's loss and the peak of engine-tracked bytes in the backward pass. */
function densenetGradients(lean: boolean): { grads: tf.Tensor[]; peak: number } {
  const was = setLeanBackprop(lean);
  const model = createDenseNet({ blocks: [2, 2], growthRate: 4, inputSize: 32, name: `lean_${lean}` });
  // Seeds from 1: seed 0 means unseeded.
  const weights = model.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.2, "float32", i + 1));
  model.setWeights(weights);
  tf.dispose(weights);
  const x = tf.randomUniform([2, 32, 32, 1], 0, 255, "float32", 1);
  try {
    const training = (m: tfl.LayersModel, x: tf.Tensor) => m.apply(x, { training: true }) as tf.Tensor;
    const { output, grads, peak } = gradientsAndPeak(model, x, training, "backward");
    output.dispose();
    return { grads, peak };
  } finally {
    setLeanBackprop(was);
    x.dispose();
    model.dispose();
  }
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`lean backprop on ${backend}: a DenseNet's gradients are bit for bit those of tfjs' own pass, with a lower backward peak and nothing left behind`, async () => {
    await selectBackend(backend);
    const before = tf.memory().numTensors;
    const off = densenetGradients(false);
    const on = densenetGradients(true);
    assert.equal(on.grads.length, off.grads.length);
    on.grads.forEach((g, i) => assert.deepEqual(g.dataSync(), off.grads[i]?.dataSync(), `gradient ${i}`));
    assert.ok(on.peak < 0.7 * off.peak, `backward peak ${on.peak} bytes with, ${off.peak} without`);
    tf.dispose([...on.grads, ...off.grads]);
    assert.equal(tf.memory().numTensors, before);
  });
}

Deno.test("lean backprop: a dy passed on unchanged, one gradient for two inputs, a caller's dy and second derivatives stay right", async () => {
  await selectBackend("cpu");
  const before = tf.memory().numTensors;
  // A custom op whose gradient hands dy on as is, and the same tensor to both of its inputs.
  const both = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([]);
    return { value: tf.add(a, b), gradFunc: (dy: tf.Tensor) => [dy, dy] };
  });
  const f = (x: tf.Tensor) => tf.sum(tf.mul(both(tf.mul(x, 2), tf.mul(x, 3)), tf.relu(x)));
  const x = tf.tensor1d([1, -2, 3]);
  const dy = tf.scalar(2);
  const g = tf.grad(f)(x, dy);
  // d/dx [(2x + 3x)·relu(x)] = 5·relu(x) + 5x·step(x) = 10x for x > 0, 0 otherwise; times dy = 2.
  assert.deepEqual([...g.dataSync()], [20, 0, 60]);
  assert.equal(dy.isDisposed, false, "the caller's dy is the caller's");
  assert.deepEqual([...dy.dataSync()], [2]);
  const second = tf.grad((t: tf.Tensor) => tf.sum(tf.grad((u: tf.Tensor) => tf.sum(tf.pow(u, 3)))(t)))(x);
  assert.deepEqual([...second.dataSync()], [6, -12, 18]);
  tf.dispose([g, second, x, dy]);
  assert.equal(tf.memory().numTensors, before);
});
