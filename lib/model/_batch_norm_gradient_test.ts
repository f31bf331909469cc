import assert from "node:assert/strict";
import { selectBackend } from "./backend.ts";
import {
  BATCH_NORM_GRADIENT,
  registerBatchNormGradient,
  TFJS_BATCH_NORM_GRADIENT,
} from "./_batch_norm_gradient.ts";
import { tf } from "./tf.ts";
import { maxRelDiff, seeded } from "./_testing.ts";

await selectBackend("cpu");

/** Gradients of sum(batchNorm(x, mean, variance, offset, scale) * r) w.r.t. all five inputs. */
async function grads(shape: number[]): Promise<Float32Array[]> {
  const channels = shape.at(-1) ?? 1;
  const size = shape.reduce((a, b) => a * b);
  const x = tf.tensor(seeded(size, 1), shape);
  const mean = tf.tensor1d(seeded(channels, 2));
  const variance = tf.tensor1d(seeded(channels, 3, 0.2, 2));
  const scale = tf.tensor1d(seeded(channels, 4, 0.5, 1.5));
  const offset = tf.tensor1d(seeded(channels, 5));
  const r = tf.tensor(seeded(size, 6), shape);
  const f = (...args: tf.Tensor[]) => {
    const [a, m, v, s, o] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    return tf.sum(tf.mul(tf.batchNorm(a, m, v, o, s, 1e-3), r));
  };
  const result = tf.grads(f)([x, mean, variance, scale, offset]);
  const values = await Promise.all(result.map(async (t) => await t.data() as Float32Array));
  tf.dispose([x, mean, variance, scale, offset, r, ...result]);
  return values;
}

Deno.test("batch_norm_gradient: matches tfjs-core's own FusedBatchNorm gradient for every input", async () => {
  assert.ok(TFJS_BATCH_NORM_GRADIENT && TFJS_BATCH_NORM_GRADIENT !== BATCH_NORM_GRADIENT);
  // (tfjs cannot differentiate a batchNorm without scale or offset at all: its tape needs every input.)
  try {
    for (const shape of [[2, 3, 4, 5], [1, 5, 5, 3], [6, 4]]) {
      tf.registerGradient(TFJS_BATCH_NORM_GRADIENT!);
      const expected = await grads(shape);
      registerBatchNormGradient();
      const before = tf.memory().numTensors;
      const actual = await grads(shape);
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
      assert.equal(actual.length, expected.length);
      actual.forEach((g, i) => assert.ok(maxRelDiff(g, expected[i] ?? []) < 1e-5, `${shape} input ${i}`));
    }
  } finally {
    registerBatchNormGradient();
  }
  assert.equal(tf.getGradient("FusedBatchNorm"), BATCH_NORM_GRADIENT);
});
