/**
 * One training step of a small DenseNet against an independent framework, on the cpu and wasm backends and on
 * the onnx engine (lib/train/onnx_gradients.ts: the step's forward and backward passes on ONNX Runtime).
 *
 * From fixed weights, `createDenseNet({ blocks: [2, 2], growthRate: 4, stemFilters: 8, inputSize: 32 })` takes
 * one `trainStep` on a batch of 4 (BatchNorm in training mode over the whole batch, CheXNet's class-weighted
 * binary cross-entropy with `classWeights` of a 32-row label set, `kerasAdam` as `train` uses it) and must
 * give the loss, the gradient of every weight, every trainable weight after the Adam step and every BatchNorm
 * moving mean and variance that PyTorch gives in float64: `tests/fixtures/train_step_reference.json`, written
 * by `tests/fixtures/make_train_step_reference.py` (which says how to regenerate it). This test needs no Python.
 *
 * Tolerance: |ours − reference| ≤ 1e-4 · (1 + |reference|) element-wise for the loss, weights and moving
 * statistics. Gradients (all below 0.02) are held tighter, to 1e-4 of the largest gradient of the batch.
 * The learning rate is 0.01 rather than `train`'s 1e-3 so that the update itself, not only the weight, is
 * checked to 1 % (at 1e-3 a whole Adam step is about 1e-3, a tenth of which would pass unnoticed). It is not
 * larger because Adam's first step is lr · g / (|g| + 3e-6): gradients that are zero in exact arithmetic (the
 * stem BatchNorm's β, by the next BatchNorm's shift invariance) turn float32 noise of 5e-9 into 1.6e-3 · lr.
 * Measured (cpu / wasm): loss 2e-9 / 1.2e-7, gradients 1.0e-6 / 1.2e-6 of the largest, weights 2.4e-6 /
 * 8.7e-6, moving statistics 2.7e-8 / 2.7e-8; onnx engine: loss 2.5e-8, gradients 8.5e-7, weights 7.6e-6,
 * moving statistics 2.7e-8.
 *
 * What differs between the frameworks (layout, padding, BatchNorm, loss, Adam) and how the script pins each to
 * Keras is written in the script. Two of them tell implementations apart here: the moving variance moves
 * towards the unbiased batch variance, as in tf.keras 2 (lib/model/batch_normalization.ts; with tfjs-layers'
 * class the moving variances here would miss by 1.5e-4), and Keras' Adam adds ε to √v of the uncorrected
 * moments (lib/train/optimizer.ts; tfjs' `tf.train.adam` misses the reference weights by 6.5e-3 here, checked
 * below), so `train` uses `kerasAdam`.
 *
 * Micro-batches: with `microBatch` 2 instead of 4 each half batch is normalised with its own statistics and
 * moves the moving averages by itself (two updates per step), so loss, gradients and moving statistics differ
 * from this reference by design (gradient accumulation is exact only for layers without batch statistics);
 * this test uses the whole batch.
 *
 * @module
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createDenseNet, selectBackend, tf, tfl } from "../model/mod.ts";
import { maxAbsDiff, maxRelDiff } from "../model/_testing.ts";
import { classWeights } from "./loss.ts";
import { kerasAdam } from "./optimizer.ts";
import { computeGradients, trainStep } from "./step.ts";
import { startOnnxGradients } from "./onnx_gradients.ts";

/** The fixture as written: every tensor is one string of space-separated decimals, row-major, Keras layout. */
interface ReferenceFile {
  model: { blocks: number[]; growthRate: number; stemFilters: number; inputSize: number; classes: number };
  adam: { learningRate: number; beta1: number; beta2: number; epsilon: number };
  pixels: { shape: [number, number, number, number]; values: string };
  partitionLabels: { shape: [number, number]; values: string };
  classWeights: { positive: string; negative: string };
  initial: Record<string, { shape: number[]; values: string }>;
  loss: number;
  gradients: Record<string, string>;
  updated: Record<string, string>;
}

const FILE: ReferenceFile = JSON.parse(
  readFileSync(new URL("../../tests/fixtures/train_step_reference.json", import.meta.url), "utf8"),
);
const numbers = (text: string): number[] => text.split(" ").map(Number);
const byName = (m: Record<string, string>) =>
  Object.fromEntries(Object.entries(m).map(([k, v]) => [k, numbers(v)]));
/** The fixture's tensors, parsed. */
const PIXELS = numbers(FILE.pixels.values), LABELS = numbers(FILE.partitionLabels.values);
const GRADIENTS = byName(FILE.gradients), UPDATED = byName(FILE.updated);
const TOLERANCE = 1e-4;

/** The fixture's model with its initial weights, set by Keras weight name (layer name + "/" + weight). */
function buildModel(): tfl.LayersModel {
  const { blocks, growthRate, stemFilters, inputSize, classes } = FILE.model;
  const model = createDenseNet({ blocks, growthRate, stemFilters, inputSize, classes });
  assert.deepEqual(model.weights.map((w) => w.originalName).sort(), Object.keys(FILE.initial).sort());
  const values = model.weights.map((w) => {
    const ref = FILE.initial[w.originalName];
    assert.ok(ref, `no initial value for ${w.originalName}`);
    const { shape, values } = ref;
    assert.deepEqual(w.shape, shape, w.originalName);
    return tf.tensor(numbers(values), shape);
  });
  model.setWeights(values);
  tf.dispose(values);
  return model;
}

/** Keras weight name by the name of the variable holding it (which gains a suffix in a second model). */
function kerasNames(model: tfl.LayersModel): Map<string, string> {
  return new Map(model.weights.map((w) => [(w.read() as tf.Variable).name, w.originalName]));
}

async function weightsByName(model: tfl.LayersModel): Promise<Map<string, Float32Array>> {
  return new Map(
    await Promise.all(
      model.weights.map(async (w) => [w.originalName, await w.read().data() as Float32Array] as const),
    ),
  );
}

/** Worst error of the weights after a step, over the names `which` keeps. */
function updateErr(after: Map<string, Float32Array>, which: (name: string) => boolean): number {
  let worst = 0;
  for (const [name, values] of after) {
    if (which(name)) worst = Math.max(worst, maxRelDiff(values, UPDATED[name] ?? []));
  }
  return worst;
}

const isMoving = (name: string) => /\/moving_(mean|variance)$/.test(name);

for (const [backend, engine] of [["cpu", "tfjs"], ["wasm", "tfjs"], ["wasm", "onnx"]] as const) {
  const on = engine === "onnx" ? "ONNX Runtime (the onnx engine)" : backend;
  Deno.test(`step reference: one DenseNet training step on ${on} matches PyTorch's Keras-style step to 1e-4`, async () => {
    await selectBackend(backend);
    /** The gradient engine bound to `m`: the onnx engine, or none (tfjs on this thread). */
    const engineFor = async (m: tfl.LayersModel) =>
      engine === "onnx" ? await startOnnxGradients(m, { threads: 1 }) : undefined;
    const before = tf.memory().numTensors;
    const pixelShape = FILE.pixels.shape;
    const [rows, classes] = FILE.partitionLabels.shape;
    const batch = pixelShape[0];
    const x = tf.tensor4d(PIXELS, pixelShape);
    const y = tf.tensor2d(LABELS.slice(0, batch * classes), [batch, classes]);
    const weights = classWeights(LABELS, classes);
    assert.equal(LABELS.length, rows * classes);
    assert.deepEqual([...weights.positive], numbers(FILE.classWeights.positive).map(Math.fround));
    assert.deepEqual([...weights.negative], numbers(FILE.classWeights.negative).map(Math.fround));

    // Loss and gradients, through the code path trainStep uses.
    const probe = buildModel();
    const names = kerasNames(probe);
    const probeEngine = await engineFor(probe);
    const { loss, grads } = probeEngine
      ? await probeEngine.computeGradients(x, y, { weights, microBatch: batch })
      : await computeGradients(probe, x, y, { weights, microBatch: batch });
    probeEngine?.close();
    const scale = Math.max(...Object.values(GRADIENTS).flatMap((g) => g.map(Math.abs)));
    let gradErr = 0;
    const named: Record<string, number> = {};
    for (const [variable, grad] of Object.entries(grads)) {
      const name = names.get(variable)!;
      const err = maxAbsDiff(await grad.data(), GRADIENTS[name] ?? []) / scale;
      named[name] = err;
      gradErr = Math.max(gradErr, err);
    }
    assert.deepEqual(Object.keys(named).sort(), Object.keys(GRADIENTS).sort());
    tf.dispose(Object.values(grads));
    probe.dispose();
    const lossErr = Math.abs(loss - FILE.loss) / (1 + Math.abs(FILE.loss));
    assert.ok(lossErr <= TOLERANCE, `loss ${loss}, reference ${FILE.loss}`);
    for (const name of ["conv1/conv/kernel", "conv1/bn/gamma", "conv2_block1_1_conv/kernel", "bn/beta"]) {
      assert.ok(
        (named[name] ?? Infinity) <= TOLERANCE,
        `gradient of ${name} off by ${named[name]} of the largest gradient`,
      );
    }
    assert.ok(gradErr <= TOLERANCE, `gradients off by ${gradErr} of the largest gradient`);

    // One step with the optimizer train uses: every trainable weight and every moving statistic.
    const model = buildModel();
    const adam = kerasAdam(FILE.adam.learningRate);
    assert.deepEqual(
      { beta1: adam.beta1, beta2: adam.beta2, epsilon: adam.epsilon },
      { beta1: FILE.adam.beta1, beta2: FILE.adam.beta2, epsilon: FILE.adam.epsilon },
      "kerasAdam's defaults are the reference's",
    );
    const stepEngine = await engineFor(model);
    const stepLoss = await trainStep(model, adam, x, y, { weights, microBatch: batch, workers: stepEngine });
    stepEngine?.close();
    assert.ok(Math.abs(stepLoss - loss) <= 1e-6, "trainStep's loss is computeGradients'");
    const after = await weightsByName(model);
    const weightErr = updateErr(after, (n) => !isMoving(n));
    const movingErr = updateErr(after, isMoving);
    assert.ok(weightErr <= TOLERANCE, `weights after the Adam step off by ${weightErr}`);
    assert.ok(movingErr <= TOLERANCE, `BatchNorm moving statistics off by ${movingErr}`);
    model.dispose();
    adam.dispose();

    // The check can tell Adam's two forms apart: tfjs' own Adam misses the Keras reference.
    const control = buildModel();
    const tfjsAdam = tf.train.adam(FILE.adam.learningRate);
    const controlEngine = await engineFor(control);
    await trainStep(control, tfjsAdam, x, y, { weights, microBatch: batch, workers: controlEngine });
    controlEngine?.close();
    const tfjsErr = updateErr(await weightsByName(control), (n) => !isMoving(n));
    assert.ok(tfjsErr > 10 * TOLERANCE, `tf.train.adam lands within ${tfjsErr} of Keras' step`);
    control.dispose();
    tfjsAdam.dispose();

    tf.dispose([x, y]);
    assert.equal(tf.memory().numTensors, before, "no tensors left behind");
  });
}
