import assert from "node:assert/strict";
import { selectBackend, tf, tfl } from "../model/mod.ts";
import { binaryCrossEntropy, classWeights } from "./loss.ts";

await selectBackend("cpu");

Deno.test("unweighted loss equals tfjs-layers' binaryCrossentropy (Keras' definition)", async () => {
  const y = tf.tensor2d([[1, 0, 1], [0, 0, 1]]);
  const p = tf.tensor2d([[0.9, 0.2, 0.4], [0.3, 1e-9, 1]]);
  const ours = (await binaryCrossEntropy(y, p).data())[0] ?? NaN;
  const keras = (await tf.mean(tfl.metrics.binaryCrossentropy(y, p)).data())[0] ?? NaN;
  assert.ok(Math.abs(ours - keras) < 1e-5, `${ours} vs ${keras}`);
  tf.dispose([y, p]);
});

Deno.test("weighted loss: w+ = N-/N on positive terms, w- = N+/N on negative terms, by hand", async () => {
  // 4 images x 2 classes: class 0 has 1 positive of 4, class 1 has 2 of 4.
  const labels = new Uint8Array([1, 1, 0, 0, 0, 1, 0, 0]);
  const w = classWeights(labels, 2);
  assert.deepEqual([...w.positive], [0.75, 0.5]);
  assert.deepEqual([...w.negative], [0.25, 0.5]);
  const y = tf.tensor2d([[1, 0]]);
  const p = tf.tensor2d([[0.8, 0.3]]);
  const expected = -(0.75 * Math.log(0.8) + 0.5 * Math.log(0.7)) / 2;
  const got = (await binaryCrossEntropy(y, p, w).data())[0] ?? NaN;
  assert.ok(Math.abs(got - expected) < 1e-6, `${got} vs ${expected}`);
  tf.dispose([y, p]);
});

Deno.test("loss and weights check shapes", () => {
  const a = tf.zeros([2, 3]), b = tf.zeros([2, 2]);
  assert.throws(() => binaryCrossEntropy(a, b), /labels \[2,3\] and predictions \[2,2\] differ/);
  assert.throws(() => binaryCrossEntropy(b, b, classWeights([1, 0, 1], 3)), /weights for 3 classes/);
  assert.throws(() => classWeights([1, 0, 1], 2), /3 labels do not fit 2 classes/);
  tf.dispose([a, b]);
});
