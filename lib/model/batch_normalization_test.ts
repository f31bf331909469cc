import assert from "node:assert/strict";
import { selectBackend } from "./backend.ts";
import { BatchNormalization, trainingBatchNorm } from "./batch_normalization.ts";
import { tf, tfl } from "./tf.ts";
import { maxRelDiff, seeded } from "./_testing.ts";

await selectBackend("cpu");

const SHAPE = [2, 3, 3, 4];
const N = 2 * 3 * 3; // elements per channel

/** A training-mode pass of `layer` on fixed data: output, gradients of x/gamma/beta, moving statistics. */
async function run(layer: tfl.layers.Layer): Promise<Float32Array[]> {
  const x = tf.tensor4d(seeded(72, 1, -2, 3), SHAPE as [number, number, number, number]);
  const r = tf.tensor4d(seeded(72, 2), SHAPE as [number, number, number, number]);
  layer.build(x.shape);
  layer.setWeights(
    [seeded(4, 3, 0.5, 1.5), seeded(4, 4), seeded(4, 5), seeded(4, 6, 0.5, 1.5)].map((v) => tf.tensor1d(v)),
  );
  const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable) as [
    tf.Variable,
    tf.Variable,
  ];
  const f = (xx: tf.Tensor) =>
    tf.sum(tf.mul(layer.apply(xx, { training: true }) as tf.Tensor, r)) as tf.Scalar;
  const y = layer.apply(x, { training: true }) as tf.Tensor;
  const dx = tf.grad(f)(x);
  const { grads } = tf.variableGrads(() => f(x), [gamma, beta]);
  layer.setWeights([
    ...layer.getWeights().slice(0, 2),
    tf.tensor1d(seeded(4, 5)),
    tf.tensor1d(seeded(4, 6, 0.5, 1.5)),
  ]);
  layer.apply(x, { training: true });
  const out = await Promise.all(
    [y, dx, grads[gamma.name], grads[beta.name], ...layer.getWeights().slice(2)].map((t) =>
      t?.data() as Promise<Float32Array>
    ),
  );
  tf.dispose([x, r, y, dx, ...Object.values(grads)]);
  return out;
}

Deno.test("batch_normalization: training output and gradients are tfjs-layers'; the moving variance takes n / (n - 1)", async () => {
  const momentum = 0.9;
  const ours = await run(new BatchNormalization({ momentum, epsilon: 1.001e-5 }));
  const theirs = await run(tfl.layers.batchNormalization({ momentum, epsilon: 1.001e-5 }));
  for (const [i, what] of ["output", "dx", "dgamma", "dbeta", "moving_mean"].entries()) {
    const [a, b] = [ours[i]!, theirs[i]!];
    assert.ok(maxRelDiff(a, b) < 1e-6, `${what} differs by ${maxRelDiff(a, b)}`);
  }
  // moving = m · v0 + (1 − m) · var: recover each layer's batch variance and compare.
  const v0 = seeded(4, 6, 0.5, 1.5);
  const batchVar = (mv: Float32Array) => [...mv].map((v, c) => (v - momentum * v0[c]!) / (1 - momentum));
  const theirsVar = batchVar(theirs[5]!);
  const ratio = batchVar(ours[5]!).map((v, c) => v / theirsVar[c]!);
  for (const q of ratio) assert.ok(Math.abs(q - N / (N - 1)) < 1e-4, `ratio ${q}, expected ${N / (N - 1)}`);
});

Deno.test("batch_normalization: inference is unchanged and loaded models get this class", async () => {
  const input = tfl.input({ shape: [2, 2, 3] });
  const model = tfl.model({
    inputs: input,
    outputs: new BatchNormalization({ name: "bn" }).apply(input) as tfl.SymbolicTensor,
  });
  const reference = tfl.layers.batchNormalization({ name: "bn_tfjs" });
  const x = tf.tensor4d(seeded(12, 7), [1, 2, 2, 3]);
  reference.apply(x);
  reference.setWeights(model.getWeights());
  const a = await (model.predict(x) as tf.Tensor).data();
  const b = await (reference.apply(x) as tf.Tensor).data();
  assert.ok(maxRelDiff(a, b) < 1e-7);
  const loaded = await tfl.models.modelFromJSON(
    { modelTopology: model.toJSON(undefined, false) } as Parameters<typeof tfl.models.modelFromJSON>[0],
  );
  assert.ok(loaded.getLayer("bn") instanceof BatchNormalization);
  assert.equal(loaded.getLayer("bn").getClassName(), "BatchNormalization");
  tf.dispose([x]);
  model.dispose();
  loaded.dispose();
});

Deno.test("batch_normalization: a frozen layer (trainable = false) runs in inference mode under training: true and keeps its moving statistics", async () => {
  const layer = new BatchNormalization({ axis: 3 });
  const x = tf.tensor4d(seeded(72, 7, -2, 3), SHAPE as [number, number, number, number]);
  layer.build(x.shape);
  layer.setWeights(
    [seeded(4, 3, 0.5, 1.5), seeded(4, 4), seeded(4, 5), seeded(4, 6, 0.5, 1.5)].map((v) => tf.tensor1d(v)),
  );
  layer.trainable = false;
  const before = await Promise.all(layer.getWeights().map((w) => w.data()));
  const trained = layer.apply(x, { training: true }) as tf.Tensor;
  const inferred = layer.apply(x) as tf.Tensor;
  assert.ok(maxRelDiff(await trained.data(), await inferred.data()) < 1e-6);
  assert.deepEqual(await Promise.all(layer.getWeights().map((w) => w.data())), before);
  layer.trainable = true;
  layer.apply(x, { training: true });
  const after = await Promise.all(layer.getWeights().map((w) => w.data()));
  assert.notDeepEqual(after[2], before[2], "trainable again: the moving mean moves");
  tf.dispose([x, trained, inferred]);
});

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`trainingBatchNorm on ${backend}: output, statistics and gradients (x, gamma, beta) equal tf.moments + tf.batchNorm's, without leaks`, async () => {
    await selectBackend(backend);
    for (const shape of [[3, 5, 5, 8], [4, 6], [1, 7, 3, 2]]) {
      const c = shape.at(-1)!;
      const x = tf.randomNormal(shape, 3, 2, "float32", 7);
      const gamma = tf.randomUniform([c], 0.5, 1.5, "float32", 8);
      const beta = tf.randomNormal([c], 0, 1, "float32", 9);
      const w = tf.randomNormal(shape, 0, 1, "float32", 10); // a loss that weighs every output differently
      const axes = [...Array(shape.length - 1).keys()];
      const reference = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(xs, axes);
        return tf.batchNorm(xs, mean, variance, b, g, 1e-3);
      };
      const before = tf.memory().numTensors;
      const loss = (f: (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor) =>
        tf.grads((xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.square(f(xs, g, b)), w)));
      const ours = loss((xs, g, b) => trainingBatchNorm(xs, g, b, 1e-3).y)([x, gamma, beta]);
      const theirs = loss(reference)([x, gamma, beta]);
      assert.equal(ours.length, theirs.length);
      ours.forEach((t, i) => {
        const other = theirs[i]!;
        const gap = tf.tidy(() =>
          tf.max(tf.div(tf.abs(tf.sub(t, other)), tf.add(tf.abs(other), 1e-2))).dataSync()[0] ?? NaN
        );
        assert.ok(gap < 1e-4, `${shape}: gradient ${["x", "gamma", "beta"][i]} differs by ${gap} (relative)`);
      });
      const { y, mean, variance } = trainingBatchNorm(x, gamma, beta, 1e-3);
      const expected = tf.moments(x, axes);
      const ref = tf.tidy(() => reference(x, gamma, beta));
      const gap = (a: tf.Tensor, b: tf.Tensor) =>
        tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? NaN);
      assert.ok(gap(y, ref) < 1e-5);
      assert.ok(gap(mean, expected.mean) < 1e-5);
      assert.ok(gap(variance, expected.variance) < 1e-4);
      tf.dispose([...ours, ...theirs, y, mean, variance, expected.mean, expected.variance, ref]);
      assert.equal(tf.memory().numTensors, before, `${shape}: tensors left behind`);
      tf.dispose([x, gamma, beta, w]);
    }
  });
}
