// The ONNX training graph against tfjs' own gradients (lib/train/step.ts' computeGradients on the cpu backend,
// the step checked against PyTorch in step_reference_test.ts): loss, every weight's gradient and the BatchNorm
// batch statistics, on DenseNets that reach every branch of the graph builder.
import assert from "node:assert/strict";
import * as ort from "onnxruntime-node";
import {
  createDenseNet,
  type DenseNetOptions,
  exportTrainingOnnx,
  OnnxExportError,
  recordMovingStatistics,
  selectBackend,
  tf,
  tfl,
} from "./mod.ts";
import { computeGradients } from "../train/step.ts";
import { chain, setSeededWeights } from "./_testing.ts";
import { freezeLayers } from "../train/init.ts";
import type { ClassWeights } from "../train/loss.ts";

await selectBackend("cpu");

interface Run {
  loss: number;
  grads: Map<string, Float32Array>;
  statistics: { layer: string; mean: Float32Array; variance: Float32Array }[];
}

/** One training-graph run on `x`, `y`: loss, gradients by variable name, unbiased batch statistics. */
async function onnxRun(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  weights?: ClassWeights,
): Promise<Run> {
  const graph = await exportTrainingOnnx(model);
  const session = await ort.InferenceSession.create(graph.bytes, { intraOpNumThreads: 1 });
  try {
    const [n, classes] = y.shape as [number, number];
    const ones = new Float32Array(classes).fill(1);
    const feeds: Record<string, ort.Tensor> = {
      image: new ort.Tensor("float32", Float32Array.from(await x.data()), x.shape),
      labels: new ort.Tensor("float32", Float32Array.from(await y.data()), y.shape),
      positive: new ort.Tensor("float32", weights?.positive ?? ones, [classes]),
      negative: new ort.Tensor("float32", weights?.negative ?? ones, [classes]),
      scale: new ort.Tensor("float32", Float32Array.of(1 / (n * classes)), [1]),
    };
    for (const w of graph.weights) {
      feeds[w.input] = new ort.Tensor(
        "float32",
        await model.weights[w.index]!.read().data() as Float32Array,
        w.shape,
      );
    }
    const out = await session.run(feeds);
    const grads = new Map<string, Float32Array>();
    for (const w of graph.weights) {
      if (w.gradient) {
        grads.set(
          (model.weights[w.index]!.read() as tf.Variable).name,
          out[w.gradient]!.data as Float32Array,
        );
      }
    }
    const statistics = graph.statistics.map((s) => {
      const count = n * s.perImage;
      const variance = (out[s.variance]!.data as Float32Array).map((v) => v * count / (count - 1));
      return { layer: s.layer, mean: out[s.mean]!.data as Float32Array, variance };
    });
    return { loss: (out.loss!.data as Float32Array)[0]!, grads, statistics };
  } finally {
    await session.release();
  }
}

/**
 * Every gradient within 3e-4 of its tensor's largest value, or within 1e-5 of the largest gradient of the
 * model (for tensors that are rounding noise: the stem BatchNorm's gamma, whose true gradient is all but zero
 * because the next BatchNorm undoes its scale). Float32 rounding grows through the BatchNorm backward passes:
 * on the 'same'-stem model below, tfjs' own cpu and wasm backends differ by up to 1e-4 on the stem kernel.
 */
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, what: string, global = 0): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  assert.ok(
    diff <= 3e-4 * scale + 1e-5 * global + 1e-7,
    `${what}: differs by ${diff} (largest value ${scale})`,
  );
}

async function compare(
  options: DenseNetOptions,
  { n = 3, weights, freeze, seed = 1 }: {
    n?: number;
    weights?: ClassWeights;
    freeze?: string;
    seed?: number;
  } = {},
): Promise<void> {
  const classes = options.classes ?? 14;
  const size = options.inputSize ?? 224;
  const model = createDenseNet(options);
  setSeededWeights(model, seed); // the same numbers on every run
  if (freeze) freezeLayers(model, freeze);
  const x = tf.randomUniform([n, size, size, options.channels ?? 1], 0, 255, "float32", seed);
  const y = tf.cast(tf.greater(tf.randomUniform([n, classes], 0, 1, "float32", seed + 1), 0.5), "float32");
  const { result: ref, updates } = await recordMovingStatistics(() =>
    computeGradients(model, x, y, { weights })
  );
  const got = await onnxRun(model, x, y, weights);
  try {
    assert.ok(Math.abs(got.loss - ref.loss) <= 1e-5 * ref.loss, `loss ${got.loss} vs tfjs ${ref.loss}`);
    assert.deepEqual([...got.grads.keys()].sort(), Object.keys(ref.grads).sort(), "the trainable variables");
    for (const [name, grad] of Object.entries(ref.grads)) {
      assertClose(await grad.data(), got.grads.get(name)!, name);
    }
    assert.deepEqual(got.statistics.map((s) => s.layer), updates.map((u) => u.layer));
    for (const [i, u] of updates.entries()) {
      assertClose(u.mean, got.statistics[i]!.mean, `${u.layer} batch mean`);
      assertClose(u.variance, got.statistics[i]!.variance, `${u.layer} batch variance`);
    }
  } finally {
    tf.dispose([x, y, ...Object.values(ref.grads)]);
    model.dispose();
  }
}

Deno.test("ONNX training graph: loss, gradients and batch statistics equal tfjs' (Keras stem, odd sizes, class weights)", async () => {
  // 23 px: the stem's stride-2 convolution and pooling leave odd sizes, so the 2x2 average pools drop a row.
  await compare({ blocks: [2, 2], growthRate: 4, inputSize: 23, classes: 3 }, {
    weights: { positive: Float32Array.of(0.2, 0.5, 0.9), negative: Float32Array.of(0.8, 0.5, 0.1) },
  });
});

Deno.test("ONNX training graph: 'same' stem, three channels, no normalisation layer, one image", async () => {
  await compare(
    {
      blocks: [1, 2, 1],
      growthRate: 6,
      inputSize: 32,
      classes: 2,
      stem: "same",
      channels: 3,
      normalization: null,
    },
    { n: 1, seed: 7 },
  );
});

Deno.test("ONNX training graph: a frozen backbone runs its BatchNorms in inference mode, as on tfjs", async () => {
  // Freezing from conv3_block1_0_bn: the stem and the first block are fixed (moving statistics, no gradients).
  await compare({ blocks: [2, 2], growthRate: 4, inputSize: 24, classes: 3 }, {
    freeze: "conv3_block1_0_bn",
    seed: 3,
  });
  await compare({ blocks: [1, 1], growthRate: 4, inputSize: 16, classes: 2 }, {
    freeze: "backbone",
    seed: 5,
  });
});

Deno.test("ONNX training graph: a layer it cannot express is refused by name", async () => {
  const input = tfl.input({ shape: [8, 8, 1] });
  const gap = () => tfl.layers.globalAveragePooling2d({});
  const dropout = chain(
    input,
    tfl.layers.conv2d({ filters: 2, kernelSize: 3, useBias: false, name: "c" }),
    tfl.layers.dropout({ rate: 0.5, name: "drop" }),
    gap(),
    tfl.layers.dense({ units: 2, activation: "sigmoid" }),
  );
  await assert.rejects(
    exportTrainingOnnx(dropout),
    (e) => e instanceof OnnxExportError && /layer "drop" \(class Dropout\)/.test(e.message),
  );
  const softmax = chain(
    input,
    tfl.layers.conv2d({ filters: 2, kernelSize: 1, useBias: false }),
    gap(),
    tfl.layers.dense({ units: 2, activation: "softmax", name: "soft" }),
  );
  await assert.rejects(exportTrainingOnnx(softmax), /layer "soft".*the last layer must be a sigmoid Dense/);
  const biased = chain(
    input,
    tfl.layers.conv2d({ filters: 2, kernelSize: 1, name: "biased" }),
    gap(),
    tfl.layers.dense({ units: 2, activation: "sigmoid" }),
  );
  await assert.rejects(exportTrainingOnnx(biased), /layer "biased" \(class Conv2D\): a bias/);
  tf.dispose([dropout, softmax, biased].flatMap((m) => m.weights.map((w) => w.read())));
});
