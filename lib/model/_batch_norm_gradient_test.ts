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

interface Case {
  x: number[];
  withScale: boolean;
  withOffset: boolean;
}

async function grads(c: Case): Promise<Float32Array[]> {
  const channels = c.x.at(-1) ?? 1;
  const size = c.x.reduce((a, b) => a * b);
  const x = tf.tensor(seeded(size, 1), c.x);
  const mean = tf.tensor1d(seeded(channels, 2));
  const variance = tf.tensor1d(seeded(channels, 3, 0.2, 2));
  const scale = tf.tensor1d(seeded(channels, 4, 0.5, 1.5));
  const offset = tf.tensor1d(seeded(channels, 5));
  const r = tf.tensor(seeded(size, 6), c.x);
  const inputs = [x, mean, variance, ...(c.withScale ? [scale] : []), ...(c.withOffset ? [offset] : [])];
  const f = (...args: tf.Tensor[]) => {
    const [a, m, v] = args as [tf.Tensor, tf.Tensor, tf.Tensor];
    let rest = args.slice(3);
    const s = c.withScale ? rest[0] : undefined;
    if (c.withScale) rest = rest.slice(1);
    const o = c.withOffset ? rest[0] : undefined;
    return tf.sum(tf.mul(tf.batchNorm(a, m, v, o, s, 1e-3), r));
  };
  const result = tf.grads(f)(inputs);
  const values = await Promise.all(result.map(async (t) => await t.data() as Float32Array));
  tf.dispose([x, mean, variance, scale, offset, r, ...result]);
  return values;
}

Deno.test("batch_norm_gradient: matches tfjs-core's own FusedBatchNorm gradient for every input", async () => {
  assert.ok(TFJS_BATCH_NORM_GRADIENT && TFJS_BATCH_NORM_GRADIENT !== BATCH_NORM_GRADIENT);
  // (tfjs cannot differentiate a batchNorm without scale or offset at all: its tape needs every input.)
  const cases: Case[] = [
    { x: [2, 3, 4, 5], withScale: true, withOffset: true },
    { x: [1, 5, 5, 3], withScale: true, withOffset: true },
    { x: [6, 4], withScale: true, withOffset: true },
  ];
  try {
    for (const c of cases) {
      tf.registerGradient(TFJS_BATCH_NORM_GRADIENT!);
      const expected = await grads(c);
      registerBatchNormGradient();
      const before = tf.memory().numTensors;
      const actual = await grads(c);
      assert.equal(tf.memory().numTensors, before, "tensors leaked");
      assert.equal(actual.length, expected.length);
      actual.forEach((g, i) =>
        assert.ok(maxRelDiff(g, expected[i] ?? []) < 1e-5, `${JSON.stringify(c)} input ${i}`)
      );
    }
  } finally {
    registerBatchNormGradient();
  }
  assert.equal(tf.getGradient("FusedBatchNorm"), BATCH_NORM_GRADIENT);
});
