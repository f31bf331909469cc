// Conformance suite: one set of checks run against every compute backend present, each compared with cpu.
import assert from "node:assert/strict";
import { BackendName, BACKENDS, BackendUnavailableError, selectBackend } from "./backend.ts";
import { createDenseNet } from "./densenet.ts";
import { tf, tfl } from "./tf.ts";
import { maxRelDiff, seeded, setSeededWeights } from "./_testing.ts";

const SIZE = 32;
const BATCH = 2;

interface Run {
  prediction: Float32Array;
  loss: number;
  grads: Float32Array[];
  leaked: number;
}

function tinyModel(): tfl.LayersModel {
  const model = createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: SIZE });
  setSeededWeights(model, 11);
  return model;
}

function inputs(): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const x = tf.tensor4d(seeded(BATCH * SIZE * SIZE, 5, 0, 255), [BATCH, SIZE, SIZE, 1]);
  const y = tf.tensor2d(Array.from(seeded(BATCH * 14, 6, 0, 1), (v) => (v > 0.6 ? 1 : 0)), [BATCH, 14]);
  return { x, y };
}

function lossFn(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.mean(
    tfl.metrics.binaryCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor),
  ) as tf.Scalar;
}

/** Forward (inference) and one gradient computation (training mode) on the active backend. */
async function run(): Promise<Run> {
  const model = tinyModel();
  const before = tf.memory().numTensors;
  const { x, y } = inputs();
  const out = model.predict(x) as tf.Tensor;
  const prediction = await out.data() as Float32Array;
  const { value, grads } = tf.variableGrads(
    () => lossFn(model, x, y),
    model.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  const loss = (await value.data())[0];
  const names = model.trainableWeights.map((w) => (w.read() as tf.Variable).name);
  const gradValues = await Promise.all(names.map(async (n) => await grads[n].data() as Float32Array));
  tf.dispose([x, y, out, value, ...Object.values(grads)]);
  const leaked = tf.memory().numTensors - before;
  model.dispose();
  return { prediction, loss, grads: gradValues, leaked };
}

const available = new Map<BackendName, string | null>();
for (const name of BACKENDS) {
  try {
    await selectBackend(name);
    available.set(name, null);
  } catch (e) {
    available.set(name, (e as Error).message);
  }
}
await selectBackend("cpu");
const reference = await run();

for (const name of BACKENDS) {
  const why = available.get(name);
  const label = why
    ? `backend conformance [${name}]: skipped, ${why.slice(0, 160)}`
    : `backend conformance [${name}]`;
  Deno.test({
    name: `${label}: tiny DenseNet forward, loss and gradients match cpu, no leaked tensors`,
    ignore: why !== null,
    fn: async () => {
      const chosen = await selectBackend(name);
      assert.equal(chosen.name, name);
      assert.equal(tf.getBackend(), name);
      const actual = await run();
      assert.ok(maxRelDiff(actual.prediction, reference.prediction) < 1e-4, "prediction differs from cpu");
      assert.ok(
        Math.abs(actual.loss - reference.loss) < 1e-4,
        `loss ${actual.loss} vs cpu ${reference.loss}`,
      );
      assert.equal(actual.grads.length, reference.grads.length);
      actual.grads.forEach((g, i) =>
        assert.ok(maxRelDiff(g, reference.grads[i]) < 1e-3, `gradient ${i} differs`)
      );
      assert.equal(actual.leaked, 0, "tensors leaked");
    },
  });
}

Deno.test({
  name: "backend: an optimizer step on wasm lowers the loss of a tiny DenseNet without leaking tensors",
  ignore: available.get("wasm") !== null,
  fn: async () => {
    await selectBackend("wasm");
    const model = tinyModel();
    const { x, y } = inputs();
    const optimizer = tf.train.sgd(0.05);
    const before = tf.memory().numTensors;
    const first = optimizer.minimize(() => lossFn(model, x, y), true) as tf.Scalar;
    const initial = (await first.data())[0];
    first.dispose();
    const countAfterFirst = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(optimizer.minimize(() => lossFn(model, x, y), true) ?? []);
    const after = tf.tidy(() => lossFn(model, x, y));
    const final = (await after.data())[0];
    after.dispose();
    assert.ok(final < initial, `loss ${initial} -> ${final}`);
    assert.equal(tf.memory().numTensors, countAfterFirst, "tensors leaked across steps");
    assert.ok(countAfterFirst - before >= 0);
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
  },
});

Deno.test("backend: explicit backends that cannot load fail with BackendUnavailableError naming the cause", async () => {
  const missing = new URL("./_no_such_tfjs_node.js", import.meta.url).href;
  const error = await assert.rejects(
    selectBackend("tensorflow", { tensorflowModules: [missing] }),
    (e: unknown) =>
      e instanceof BackendUnavailableError && e.backend === "tensorflow" && e.message.includes(missing),
  );
  assert.equal(error, undefined);
  await assert.rejects(
    selectBackend("wasm", { wasmPath: "file:///nonexistent/" }),
    /no tfjs-backend-wasm-simd.wasm/,
  );
  await assert.rejects(selectBackend("gpu" as "cpu"), /expected one of auto, tensorflow, webgpu, wasm, cpu/);
});

Deno.test("backend: auto picks the first backend that loads and says what it skipped", async () => {
  const chosen = await selectBackend("auto", { tensorflowModules: [] });
  assert.equal(chosen.tried.at(-1)?.ok, true);
  assert.equal(chosen.tried[0].name, "tensorflow");
  assert.equal(chosen.tried[0].ok, false);
  assert.match(chosen.reason, /skipped tensorflow: no tfjs-node module to try/);
  assert.equal(tf.getBackend(), chosen.name);
});
