// Helpers shared by this folder's tests: deterministic data and tolerant comparison.
import { tf, tfl } from "./tf.ts";
import { mulberry32 } from "../random.ts";
import type { ClassActivationMaps } from "./predictor_contract.ts";

/** Deterministic pseudo-random floats in [lo, hi) (mulberry32). */
export function seeded(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * next());
}

/** Fills every weight with deterministic values (variances positive) so backends can be compared. */
export function setSeededWeights(model: tfl.LayersModel, seed: number): void {
  model.setWeights(model.weights.map((w, i) => {
    const size = (w.shape as number[]).reduce((p, d) => p * d, 1);
    const positive = /moving_variance|gamma/.test(w.originalName);
    const values = seeded(size, seed + i, positive ? 0.5 : -0.3, positive ? 1.5 : 0.3);
    return tf.tensor(values, w.shape as number[]);
  }));
}

/** A functional model that applies `layers` one after another to `input`. */
export function chain(input: tfl.SymbolicTensor, ...layers: tfl.layers.Layer[]): tfl.LayersModel {
  const output = layers.reduce((x, layer) => layer.apply(x) as tfl.SymbolicTensor, input);
  return tfl.model({ inputs: input, outputs: output });
}

/** The probabilities class activation maps imply: sigmoid(each map's mean + the Dense bias), item by item. */
export function camProbabilities(cam: ClassActivationMaps, bias: ArrayLike<number>): number[] {
  const hw = cam.height * cam.width, k = cam.classes;
  return Array.from({ length: cam.data.length / hw }, (_, j) => {
    const [i, c] = [Math.floor(j / k), j % k];
    let sum = 0;
    for (let p = 0; p < hw; p++) sum += cam.data[(i * hw + p) * k + c]!;
    return 1 / (1 + Math.exp(-(sum / hw + bias[c]!)));
  });
}

/** Largest |a - b| / (1 + |b|) over two equally long arrays. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`maxRelDiff: lengths ${a.length} and ${b.length} differ`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const ai = a[i]!, bi = b[i]!;
    worst = Math.max(worst, Math.abs(ai - bi) / (1 + Math.abs(bi)));
  }
  return worst;
}

/** Largest |a - b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`maxAbsDiff: lengths ${a.length} and ${b.length} differ`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/**
 * The gradients of `mean(forward(model, x)²)` over the model's trainable weights, a copy of the output, and the
 * most engine bytes in use (above those at the start) while the forward pass, or the backward pass, ran.
 */
export function gradientsAndPeak(
  model: tfl.LayersModel,
  x: tf.Tensor,
  forward: (m: tfl.LayersModel, x: tf.Tensor) => tf.Tensor,
  during: "forward" | "backward",
): { output: tf.Tensor; grads: tf.Tensor[]; peak: number } {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let output: tf.Tensor | null = null, peak = 0, counting = during === "forward";
  const base = tf.memory().numBytes;
  // deno-lint-ignore no-explicit-any
  const engine = tf.engine() as any;
  const kernel = engine.runKernelFunc;
  engine.runKernelFunc = function (...args: unknown[]) {
    const out = kernel.apply(this, args);
    if (counting) peak = Math.max(peak, tf.memory().numBytes - base);
    return out;
  };
  try {
    const { value, grads } = tf.variableGrads(() => {
      const y = forward(model, x);
      counting = false;
      output = tf.keep(tf.clone(y));
      const loss = tf.mean(tf.square(y)) as tf.Scalar;
      counting = during === "backward";
      return loss;
    }, vars);
    value.dispose();
    return { output: output!, grads: vars.map((v) => grads[v.name] ?? tf.scalar(NaN)), peak };
  } finally {
    engine.runKernelFunc = kernel;
  }
}
