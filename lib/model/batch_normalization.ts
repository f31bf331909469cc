/**
 * tfjs-layers' `BatchNormalization` with Keras' moving-variance update, registered in its place.
 *
 * Both move the moving statistics by `moving = momentum · moving + (1 − momentum) · batch`, but tfjs-layers
 * moves the variance towards the biased batch variance (divided by n, the elements per channel) and tf.keras 2
 * (like PyTorch) towards the unbiased one (n − 1). keras.applications' DenseNet and CheXNet's ports were
 * trained with Keras 2, so this layer follows it: DenseNet-121's last BatchNorm at 224 px sees n = 49 per
 * image, a 1 % gap with micro-batches of 2.
 *
 * Inference and the forward output are tfjs-layers' own; in training the gradient is written out
 * ({@linkcode trainingBatchNorm}), and a layer whose `trainable` is false runs in inference mode (Keras' rule
 * since TF 2). Registered under the name `BatchNormalization`, so saved models, ONNX export, Keras import and
 * every model loaded after this module use it.
 *
 * @module
 */
import { tf, tfl } from "./tf.ts";
import { one } from "./_one.ts";

/** Constructor arguments: those of `tfl.layers.batchNormalization`. */
export type BatchNormalizationArgs = NonNullable<Parameters<typeof tfl.layers.batchNormalization>[0]>;

type Kwargs = Parameters<tfl.layers.Layer["call"]>[1];

// The fields of tfjs-layers' class this one reads (private in its typings).
interface BatchNormalizationFields {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: tfl.LayerVariable | null;
  beta: tfl.LayerVariable | null;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

// tfjs-layers does not export the class itself; its registration under "BatchNormalization" holds it.
const registered = tf.serialization.SerializationMap.getMap().classNameMap.BatchNormalization;
if (!registered) {
  throw new Error("batch_normalization.ts: tfjs-layers registered no BatchNormalization class");
}
const TfjsBatchNormalization = registered[0] as unknown as new (
  args?: BatchNormalizationArgs,
) => tfl.layers.Layer;

/**
 * One BatchNorm layer's move of its moving statistics, as {@linkcode recordMovingStatistics} holds it instead of
 * applying it: the layer, the batch mean and the batch variance that goes into the moving one (unbiased).
 */
export interface MovingStatisticsUpdate {
  /** The layer's name. */
  layer: string;
  /** The batch mean per channel. */
  mean: Float32Array;
  /** The batch variance per channel with Bessel's correction (what the moving variance moves towards). */
  variance: Float32Array;
}

let recording: { layer: string; mean: tf.Tensor; variance: tf.Tensor }[] | null = null;

/**
 * Runs `fn` with every BatchNorm layer of this module holding back the move of its moving statistics: the
 * moves are returned, in the order they happened, for {@linkcode applyMovingStatistics} to apply later. Data
 * parallel training uses it: each worker computes some micro-batches of a step, and the coordinator applies
 * every micro-batch's move in the batch's order, exactly as one process running them in turn would.
 *
 * @param fn the forward (and backward) passes; may be async.
 * @returns what `fn` returned and the moves held back.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./tf.ts";
 * const bn = new BatchNormalization({ momentum: 0, name: "bn" });
 * const { updates } = await recordMovingStatistics(() => bn.apply(tf.tensor2d([[1], [3]]), { training: true }));
 * assert.deepEqual(await bn.getWeights()[2]?.array(), [0]); // not moved yet
 * assert.deepEqual(updates.map((u) => [u.layer, [...u.mean], [...u.variance]]), [["bn", [2], [2]]]);
 * applyMovingStatistics([bn], updates);
 * assert.deepEqual(await bn.getWeights()[2]?.array(), [2]);
 * ```
 */
export async function recordMovingStatistics<T>(
  fn: () => T | Promise<T>,
): Promise<{ result: T; updates: MovingStatisticsUpdate[] }> {
  if (recording) throw new Error("recordMovingStatistics: already recording");
  const held: { layer: string; mean: tf.Tensor; variance: tf.Tensor }[] = recording = [];
  try {
    const result = await fn();
    const updates: MovingStatisticsUpdate[] = [];
    for (const h of held) {
      updates.push({
        layer: h.layer,
        mean: (await h.mean.data()) as Float32Array,
        variance: (await h.variance.data()) as Float32Array,
      });
    }
    return { result, updates };
  } finally {
    recording = null;
    tf.dispose(held.flatMap((h) => [h.mean, h.variance]));
  }
}

/**
 * Applies moves held back by {@linkcode recordMovingStatistics}, in order, to the layers of that name.
 *
 * @param layers the model's layers (or `model.layers`).
 * @throws {RangeError} when a move names a layer that is not a BatchNormalization here, or its size differs.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bn = new BatchNormalization({ momentum: 0.5, name: "bn2" });
 * bn.build([null, 1]);
 * applyMovingStatistics([bn], [{ layer: "bn2", mean: new Float32Array([4]), variance: new Float32Array([3]) }]);
 * assert.deepEqual(await bn.getWeights()[2]?.array(), [2]);
 * ```
 */
export function applyMovingStatistics(
  layers: readonly tfl.layers.Layer[],
  updates: MovingStatisticsUpdate[],
): void {
  const byName = new Map(layers.filter((l) => l instanceof BatchNormalization).map((l) => [l.name, l]));
  for (const u of updates) {
    const layer = byName.get(u.layer);
    if (!layer) throw new RangeError(`applyMovingStatistics: no BatchNormalization layer "${u.layer}"`);
    const self = layer as unknown as BatchNormalizationFields;
    const shape = self.movingMean.shape as number[];
    if (shape.reduce((a, b) => a * b, 1) !== u.mean.length || u.variance.length !== u.mean.length) {
      throw new RangeError(
        `applyMovingStatistics: "${u.layer}" has ${shape} moving statistics, the update ${u.mean.length}`,
      );
    }
    tf.tidy(() => moveStatistics(self, tf.tensor(u.mean, shape), tf.tensor(u.variance, shape)));
  }
}

/** Moves a layer's moving mean and variance towards a batch's: `moving = momentum · moving + (1 − momentum) · batch`. */
function moveStatistics(self: BatchNormalizationFields, mean: tf.Tensor, variance: tf.Tensor): void {
  tf.tidy(() => {
    for (const [variable, value] of [[self.movingMean, mean], [self.movingVariance, variance]] as const) {
      const old = variable.read();
      variable.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - self.momentum)));
    }
  });
}

/**
 * Batch normalisation in training mode over every axis but the last, with its gradient written out: what
 * tfjs-layers computes (`tf.moments`, then `tf.batchNorm`), but as one tape node that keeps only `x`, the
 * per-channel statistics and `gamma`. Through `tf.moments` the tape kept a full-size `x − mean` per layer (a
 * quarter of DenseNet-121's training memory) and ran ten full-size gradient ops where this runs six:
 *
 *   x̂ = (x − μ)·r, r = 1/√(σ² + ε);  ∂β = Σ dy;  ∂γ = Σ dy·x̂;  ∂x = γ·r/n · (n·dy − ∂β − x̂·∂γ)
 *
 * (sums over the reduced axes, n elements per channel). `mean` and `variance` come back for the moving
 * statistics; no gradient flows through them.
 *
 * @param x the input, channels last.
 * @param gamma the scale, or undefined for none.
 * @param beta the offset, or undefined for none.
 * @param epsilon added to the variance.
 * @returns the normalised output, the batch mean and the biased batch variance.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./tf.ts";
 * const x = tf.tensor2d([[1], [3]]);
 * const { y, mean, variance } = trainingBatchNorm(x, tf.tensor1d([2]), tf.tensor1d([1]), 0);
 * assert.deepEqual([...y.dataSync()], [-1, 3]); // 2·(±1) + 1
 * assert.deepEqual([[...mean.dataSync()], [...variance.dataSync()]], [[2], [1]]);
 * const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(trainingBatchNorm(t, undefined, undefined, 0).y, [[1], [0]])))(x);
 * assert.ok(Math.abs(dx.dataSync()[0]!) < 1e-6); // shifting both inputs equally changes nothing
 * ```
 */
export function trainingBatchNorm(
  x: tf.Tensor,
  gamma: tf.Tensor | undefined,
  beta: tf.Tensor | undefined,
  epsilon: number,
): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const axes = [...Array(x.rank - 1).keys()];
  const channels = x.shape[x.rank - 1];
  if (channels === undefined) {
    throw new RangeError("trainingBatchNorm: x must have a channels axis, got a scalar");
  }
  let mean: tf.Tensor | null = null, variance: tf.Tensor | null = null;
  const inputs = [x, ...(gamma ? [gamma] : []), ...(beta ? [beta] : [])];
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xs, g, b] = [
      args[0] as tf.Tensor,
      gamma ? args[1] as tf.Tensor : undefined,
      beta ? args.at(-1) as tf.Tensor : undefined,
    ];
    const moments = tf.moments(xs, axes);
    mean = tf.keep(moments.mean);
    variance = tf.keep(moments.variance);
    const value = tf.batchNorm(xs, moments.mean, moments.variance, b, g, epsilon);
    save([xs, moments.mean, moments.variance, ...(g ? [g] : [])]);
    return {
      value,
      // In a tidy: tfjs runs a custom gradient outside one, so its intermediates would live to the end of the pass.
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, m, v, sg] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
          const n = sx.size / channels;
          const r = tf.rsqrt(tf.add(v, epsilon));
          const xhat = tf.mul(tf.sub(sx, m), r);
          const dBeta = tf.sum(dy, axes);
          const dGamma = tf.sum(tf.mul(dy, xhat), axes);
          const scale = tf.div(sg ? tf.mul(sg, r) : r, n);
          const dx = tf.mul(tf.sub(tf.sub(tf.mul(dy, n), dBeta), tf.mul(xhat, dGamma)), scale);
          return [dx, ...(gamma ? [dGamma] : []), ...(beta ? [dBeta] : [])];
        }),
    };
  });
  const y = op(...inputs);
  // Kept inside the op; handed to the caller's scope (a clone shares the data) so its tidy frees them.
  const kept = [mean!, variance!] as tf.Tensor[];
  const [m, v] = kept.map((t) => tf.clone(t)) as [tf.Tensor, tf.Tensor];
  tf.dispose(kept);
  return { y, mean: m, variance: v };
}

/**
 * Batch normalisation whose moving variance follows Keras 2 (unbiased batch variance); see the module doc.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./tf.ts";
 * const bn = new BatchNormalization({ momentum: 0 }); // the moving statistics become the batch's
 * bn.apply(tf.tensor2d([[1], [3]]), { training: true });
 * assert.deepEqual(await bn.getWeights()[3]?.array(), [2]); // unbiased: ((1-2)² + (3-2)²) / 1
 * assert.equal(bn.getClassName(), "BatchNormalization");
 * ```
 */
export class BatchNormalization extends TfjsBatchNormalization {
  /** Serialisation name: the same as tfjs-layers' class, which this one replaces when models are loaded. */
  static className = "BatchNormalization";

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const x = one(inputs);
    const self = this as unknown as BatchNormalizationFields;
    const axis = self.axis >= 0 ? self.axis : self.axis + x.rank;
    const channels = x.shape[axis];
    // A frozen layer (trainable = false) runs in inference mode, as in tf.keras 2 and Keras 3: it normalises
    // with its moving statistics and leaves them alone, so a frozen backbone is a fixed feature extractor.
    if (!this.trainable) kwargs = { ...kwargs, training: false };
    if (!kwargs?.training || axis !== x.rank - 1 || channels === undefined) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      const { y, mean, variance } = trainingBatchNorm(x, self.gamma?.read(), self.beta?.read(), self.epsilon);
      const n = x.size / channels;
      const batchVariance = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
      if (recording) {
        recording.push({ layer: this.name, mean: tf.keep(mean), variance: tf.keep(batchVariance) });
      } else moveStatistics(self, mean, batchVariance);
      return y;
    });
  }
}
// Layer's static fromConfig (`new cls(config)`) is inherited; the typings of the untyped base do not show it.
tf.serialization.registerClass(
  BatchNormalization as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>,
);
