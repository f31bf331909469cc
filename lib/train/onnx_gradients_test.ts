import assert from "node:assert/strict";
import { join } from "node:path";
import { BatchNormalization, createDenseNet, selectBackend, tf } from "../model/mod.ts";
import { tempDir } from "../../tests/_fixtures.ts";
import { computeGradients, trainStep } from "./step.ts";
import { OnnxTrainingError, startOnnxGradients } from "./onnx_gradients.ts";
import { type MovingStatisticsUpdate, recordMovingStatistics } from "../model/mod.ts";
import { train } from "./fit.ts";
import { readHistory } from "./history.ts";
import { freezeLayers } from "./init.ts";
import type { TrainEvent } from "./events.ts";
import { writeSyntheticCache } from "./_testing.ts";
import { GradientWorkerError, startGradientWorkers } from "./parallel.ts";
import { killWorkerAtNextStep } from "./_gradient_protocol.ts";
import { setSeededWeights } from "../model/_testing.ts";

async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<{ diff: number; scale: number }> {
  const [x, y] = [await a.data(), await b.data()];
  let diff = 0, scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(x[i]!));
  }
  return { diff, scale };
}

/** `got` moves the same layers as `want`, in the same order, each mean and variance within `tol` · max(1, |want|). */
function assertSameMoves(got: MovingStatisticsUpdate[], want: MovingStatisticsUpdate[], tol: number): void {
  assert.deepEqual(got.map((u) => u.layer), want.map((u) => u.layer), "moves in micro-batch order");
  for (const [i, u] of want.entries()) {
    for (const k of ["mean", "variance"] as const) {
      u[k].forEach((v, j) =>
        assert.ok(Math.abs(v - got[i]![k][j]!) <= tol * Math.max(1, Math.abs(v)), `${u.layer} ${k}`)
      );
    }
  }
}

Deno.test("onnx engine: micro-batched gradients, loss and held-back moving statistics equal tfjs' (to 1e-4)", async () => {
  await selectBackend("cpu");
  const model = createDenseNet({ blocks: [2, 1], growthRate: 4, inputSize: 20, classes: 4 });
  setSeededWeights(model, 3);
  // Five images in micro-batches of 2: the last one has a single image.
  const x = tf.randomUniform([5, 20, 20, 1], 0, 255, "float32", 11);
  const y = tf.tensor2d([[1, 0, 0, 1], [0, 0, 1, 1], [1, 1, 0, 0], [0, 1, 0, 1], [1, 0, 1, 0]]);
  const weights = {
    positive: Float32Array.of(0.9, 0.6, 0.7, 0.4),
    negative: Float32Array.of(0.1, 0.4, 0.3, 0.6),
  };
  using engine = await startOnnxGradients(model, { threads: 2 });
  assert.equal(engine.size, 2);
  const tensors = tf.memory().numTensors;
  const got = await engine.computeGradients(x, y, { microBatch: 2, weights });
  assert.equal(
    tf.memory().numTensors,
    tensors + Object.keys(got.grads).length,
    "only the gradients are new tensors",
  );
  const { result: ref, updates } = await recordMovingStatistics(() =>
    computeGradients(model, x, y, { microBatch: 2, weights })
  );
  assert.ok(Math.abs(got.loss - ref.loss) <= 1e-5 * ref.loss, `loss ${got.loss} vs ${ref.loss}`);
  assert.deepEqual(Object.keys(got.grads).sort(), Object.keys(ref.grads).sort());
  // Two implementations of the step in float32: within 1e-4 of each tensor's largest gradient (1e-6 of the
  // model's for tensors of rounding noise); lib/model/onnx_training_test.ts says why not closer.
  const global = Math.max(
    ...await Promise.all(Object.values(ref.grads).map(async (g) => (await maxDiff(g, g)).scale)),
  );
  for (const [name, g] of Object.entries(ref.grads)) {
    const { diff, scale } = await maxDiff(g, got.grads[name]!);
    assert.ok(diff <= 1e-4 * scale + 1e-6 * global, `${name}: ${diff} (largest ${scale})`);
  }
  // Three micro-batches, each with every BatchNorm layer's move, in the order tfjs makes them.
  assert.equal(got.updates.length, 3 * model.layers.filter((l) => l instanceof BatchNormalization).length);
  assertSameMoves(got.updates, updates, 1e-4);
  tf.dispose([x, y, ...Object.values(got.grads), ...Object.values(ref.grads)]);
  model.dispose();
});

Deno.test("onnx engine: trainStep applies its gradients and moves like tfjs; a frozen variable or a closed engine is an error", async () => {
  await selectBackend("cpu");
  const make = () => {
    const m = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16, classes: 2 });
    setSeededWeights(m, 9);
    return m;
  };
  const a = make(), b = make();
  b.setWeights(a.getWeights());
  const x = tf.randomUniform([4, 16, 16, 1], 0, 255, "float32", 3),
    y = tf.tensor2d([[1, 0], [0, 1], [1, 1], [0, 0]]);
  const engine = await startOnnxGradients(a, { threads: 1 });
  const [oa, ob] = [tf.train.sgd(0.1), tf.train.sgd(0.1)];
  for (let step = 0; step < 3; step++) {
    const la = await trainStep(a, oa, x, y, { microBatch: 2, workers: engine });
    const lb = await trainStep(b, ob, x, y, { microBatch: 2 });
    assert.ok(Math.abs(la - lb) <= 1e-4 * lb, `step ${step}: ${la} vs ${lb}`);
  }
  // Every weight, the BatchNorm moving statistics included, went the same way.
  for (const [i, w] of a.weights.entries()) {
    const { diff, scale } = await maxDiff(w.read(), b.weights[i]!.read());
    assert.ok(diff <= 1e-4 * Math.max(scale, 1), `${w.originalName}: ${diff}`);
  }
  engine.close();
  assert.throws(() => engine.computeGradients(x, y), OnnxTrainingError);

  freezeLayers(a, "backbone");
  using frozen = await startOnnxGradients(a, { threads: 1 });
  const kernel = a.getLayer("conv1/conv").weights[0]!.read() as tf.Variable;
  await assert.rejects(
    frozen.computeGradients(x, y, { variables: [kernel] }),
    /variable "conv1\/conv\/kernel.*" is not trained by the ONNX training graph \(is its layer frozen\?\)/,
  );
  const head = await frozen.computeGradients(x, y);
  assert.deepEqual(Object.keys(head.grads), a.trainableWeights.map((w) => (w.read() as tf.Variable).name));
  tf.dispose([x, y, ...Object.values(head.grads)]);
  a.dispose();
  b.dispose();
});

Deno.test("train --engine onnx: the same loss curve as tfjs on the demo set (24 steps within 1 %), engine and threads reported", async () => {
  using dir = tempDir();
  const cache = await writeSyntheticCache(dir.path, { images: 80, size: 32, seed: 4 });
  await selectBackend("wasm");
  const settings = { arch: "tiny", epochs: 4, batchSize: 8, microBatch: 4, seed: 2 } as const;
  const events: TrainEvent[] = [];
  const onnx = await train(cache, join(dir.path, "onnx"), {
    ...settings,
    engine: "onnx",
    workers: 2,
    onProgress: (e) => events.push(e),
  });
  const tfjs = await train(cache, join(dir.path, "tfjs"), { ...settings, engine: "tfjs" });
  assert.equal(onnx.engine, "onnx");
  assert.equal(onnx.workers, 2);
  assert.equal(tfjs.engine, "tfjs");
  const start = events.find((e) => e.type === "start");
  assert.ok(start?.type === "start" && start.engine === "onnx" && start.workers === 2);
  // One session on two threads is one worker, not two (the session's own size counts its threads).
  const single: TrainEvent[] = [];
  const one = await train(cache, join(dir.path, "one"), {
    ...settings,
    epochs: 1,
    engine: "onnx",
    workers: 1,
    onProgress: (e) => single.push(e),
  });
  assert.deepEqual([one.workers, one.threads], [1, Math.max(1, navigator.hardwareConcurrency || 1)]);
  assert.ok(single.some((e) => e.type === "start" && e.workers === 1));
  const steps = events.filter((e) => e.type === "batch").length;
  assert.ok(steps >= 20, `${steps} steps`);
  const [h1, h2] = [readHistory(onnx.history), readHistory(tfjs.history)];
  assert.deepEqual(h1.map((h) => h.epoch), [1, 2, 3, 4]);
  for (const [i, a] of h1.entries()) {
    const b = h2[i]!;
    assert.ok(
      Math.abs(a.loss - b.loss) <= 0.01 * b.loss,
      `epoch ${i + 1} loss: onnx ${a.loss}, tfjs ${b.loss}`,
    );
    assert.ok(Math.abs(a.val_loss - b.val_loss) <= 0.01 * b.val_loss, `epoch ${i + 1} val_loss`);
  }
});

Deno.test("onnx engine, data-parallel: two ONNX Runtime sessions (this thread and a worker) compute what one does; a dying worker is named", async () => {
  await selectBackend("wasm");
  const model = createDenseNet({ blocks: [1, 1], growthRate: 4, inputSize: 16, classes: 3 });
  setSeededWeights(model, 21);
  const x = tf.randomUniform([6, 16, 16, 1], 0, 255, "float32", 4);
  const y = tf.tensor2d([[1, 0, 1], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]]);
  using one = await startOnnxGradients(model, { threads: 1 });
  using two = await startGradientWorkers(model, { workers: 2, engine: "onnx" });
  assert.equal(two.size, 2);
  const a = await one.computeGradients(x, y, { microBatch: 2 });
  const b = await two.computeGradients(x, y, { microBatch: 2 });
  assert.ok(Math.abs(a.loss - b.loss) <= 1e-6 * a.loss, `${a.loss} vs ${b.loss}`);
  for (const [name, g] of Object.entries(a.grads)) {
    const { diff, scale } = await maxDiff(g, b.grads[name]!);
    assert.ok(diff <= 1e-6 * scale + 1e-9, `${name}: ${diff}`);
  }
  // BatchNorm statistics are per micro-batch (not synchronised between workers), as in one session: the same
  // moves, in micro-batch order.
  assertSameMoves(b.updates, a.updates, 1e-6);
  tf.dispose([...Object.values(a.grads), ...Object.values(b.grads)]);

  killWorkerAtNextStep(1);
  await assert.rejects(two.computeGradients(x, y, { microBatch: 2 }), /Gradient worker 1 of 1 failed/);
  await assert.rejects(two.computeGradients(x, y, { microBatch: 2 }), GradientWorkerError);
  tf.dispose([x, y]);
  model.dispose();
});

Deno.test("train --gpus: ONNX Runtime's cuda provider, refused clearly where its library is missing (no GPU machine here); bad lists are refused", async () => {
  using dir = tempDir();
  const cache = await writeSyntheticCache(dir.path, { images: 24, size: 16, seed: 2 });
  await selectBackend("wasm");
  const settings = { arch: "tiny", epochs: 1, batchSize: 4 } as const;
  const out = join(dir.path, "gpu");
  // This machine's onnxruntime-node has no CUDA provider library (its install script fetches it): the run stops
  // before any checkpoint, naming what is missing. On a GPU VM with the library it trains on the GPUs.
  await assert.rejects(
    train(cache, out, { ...settings, gpus: [0, 1] }),
    /cuda.*libonnxruntime_providers_cuda\.so/,
  );
  assert.deepEqual(
    [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => n !== "checkpoints"),
    [],
    "nothing written but the (empty) checkpoint folder",
  );
  await assert.rejects(
    train(cache, out, { ...settings, gpus: [0, 0] }),
    /gpus must list distinct GPU indices/,
  );
  await assert.rejects(train(cache, out, { ...settings, gpus: [] }), RangeError);
  await assert.rejects(train(cache, out, { ...settings, gpus: [0], engine: "tfjs" }), /drop engine tfjs/);
});
