/**
 * tfjs-layers' `BatchNormalization` with Keras' moving-variance update, registered in its place.
 *
 * In training mode both normalise with the batch mean and the biased batch variance, and both move the moving
 * statistics by `moving = momentum · moving + (1 − momentum) · batch` (momentum 0.99 by default). They differ
 * in which batch variance goes into the moving one: tfjs-layers uses the biased variance (divided by n, the
 * elements per channel), tf.keras 2 the unbiased one (n − 1): for 4-D input it runs TensorFlow's fused batch
 * norm, whose `batch_variance` output carries Bessel's correction, and standalone Keras 2 multiplied by
 * n / (n − 1) itself. PyTorch does the same; Keras 3 went back to the biased one. keras.applications' DenseNet
 * and CheXNet's ports were trained with Keras 2, so this layer follows it. The gap is a factor n / (n − 1) on
 * the batch term: DenseNet-121's last BatchNorm at 224 px sees n = 49 per image, 1 % with micro-batches of 2.
 *
 * Inference, the forward output in training and the gradients are tfjs-layers' own (the same ops). A layer
 * whose `trainable` is false runs in inference mode even when called with `training: true` (Keras' rule since
 * TF 2; tfjs-layers' class ignores `trainable` there). The class
 * keeps the name `BatchNormalization`, so saved models, ONNX export and Keras import see no difference, and
 * because it is registered under that name every model loaded after this module (bundles, checkpoints,
 * imported Keras files) trains this way too.
 *
 * @module
 */
import { tf, tfl } from "./tf.ts";

/** Constructor arguments: those of `tfl.layers.batchNormalization`. */
export type BatchNormalizationArgs = NonNullable<Parameters<typeof tfl.layers.batchNormalization>[0]>;

type _Kwargs = Parameters<tfl.layers.Layer["call"]>[1];

// The fields of tfjs-layers' class this one reads (private in its typings).
interface _BatchNormalizationFields {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: tfl.LayerVariable | null;
  beta: tfl.LayerVariable | null;
  movingMean: tfl.LayerVariable;
  movingVariance: tfl.LayerVariable;
}

// tfjs-layers does not export the class itself; its registration under "BatchNormalization" holds it.
const _TfjsBatchNormalization = tf.serialization.SerializationMap.getMap().classNameMap
  .BatchNormalization[0] as unknown as new (args?: BatchNormalizationArgs) => tfl.layers.Layer;

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

let _recording: { layer: string; mean: tf.Tensor; variance: tf.Tensor }[] | null = null;

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
 * assert.deepEqual(Array.from(await bn.getWeights()[2].data()), [0]); // not moved yet
 * assert.deepEqual(updates.map((u) => [u.layer, [...u.mean], [...u.variance]]), [["bn", [2], [2]]]);
 * applyMovingStatistics([bn], updates);
 * assert.deepEqual(Array.from(await bn.getWeights()[2].data()), [2]);
 * ```
 */
export async function recordMovingStatistics<T>(
  fn: () => T | Promise<T>,
): Promise<{ result: T; updates: MovingStatisticsUpdate[] }> {
  if (_recording) throw new Error("recordMovingStatistics: already recording");
  const held: { layer: string; mean: tf.Tensor; variance: tf.Tensor }[] = _recording = [];
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
    _recording = null;
    tf.dispose(held.flatMap((h) => [h.mean, h.variance]));
  }
}

/**
 * Applies moves held back by {@linkcode recordMovingStatistics}, in order, to the layers of that name.
 *
 * @param layers the model's layers (or `model.layers`).
 * @param updates the moves.
 * @throws {RangeError} when a move names a layer that is not a BatchNormalization here, or its size differs.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bn = new BatchNormalization({ momentum: 0.5, name: "bn2" });
 * bn.build([null, 1]);
 * applyMovingStatistics([bn], [{ layer: "bn2", mean: new Float32Array([4]), variance: new Float32Array([3]) }]);
 * assert.deepEqual(Array.from(await bn.getWeights()[2].data()), [2]);
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
    const self = layer as unknown as _BatchNormalizationFields;
    const shape = self.movingMean.shape as number[];
    if (shape.reduce((a, b) => a * b, 1) !== u.mean.length || u.variance.length !== u.mean.length) {
      throw new RangeError(
        `applyMovingStatistics: "${u.layer}" has ${shape} moving statistics, the update ${u.mean.length}`,
      );
    }
    tf.tidy(() => {
      _moveAverage(self.movingMean, tf.tensor(u.mean, shape), self.momentum);
      _moveAverage(self.movingVariance, tf.tensor(u.variance, shape), self.momentum);
    });
  }
}

function _moveAverage(variable: tfl.LayerVariable, value: tf.Tensor, momentum: number): void {
  tf.tidy(() => {
    const old = variable.read();
    variable.write(tf.sub(old, tf.mul(tf.sub(old, value), 1 - momentum)));
  });
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
 * assert.deepEqual(Array.from(await bn.getWeights()[3].data()), [2]); // unbiased: ((1-2)² + (3-2)²) / 1
 * assert.equal(bn.getClassName(), "BatchNormalization");
 * ```
 */
export class BatchNormalization extends _TfjsBatchNormalization {
  /** Serialisation name: the same as tfjs-layers' class, which this one replaces when models are loaded. */
  static className = "BatchNormalization";

  constructor(args: BatchNormalizationArgs = {}) {
    super(args);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: _Kwargs): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const self = this as unknown as _BatchNormalizationFields;
    const axis = self.axis >= 0 ? self.axis : self.axis + x.rank;
    // A frozen layer (trainable = false) runs in inference mode, as in tf.keras 2 and Keras 3: it normalises
    // with its moving statistics and leaves them alone, so a frozen backbone is a fixed feature extractor.
    if (!this.trainable) kwargs = { ...kwargs, training: false };
    if (!kwargs?.training || axis !== x.rank - 1) return super.call(inputs, kwargs);
    return tf.tidy(() => {
      // The ops of tfjs-layers' normalizeBatchInTraining, so the output and its gradient are unchanged.
      const reduction = [...Array(x.rank - 1).keys()];
      const { mean, variance } = tf.moments(x, reduction);
      const y = tf.batchNorm(x, mean, variance, self.beta?.read(), self.gamma?.read(), self.epsilon);
      const n = x.size / x.shape[axis];
      const batchVariance = n > 1 ? tf.mul(variance, n / (n - 1)) : variance;
      if (_recording) {
        _recording.push({ layer: this.name, mean: tf.keep(mean), variance: tf.keep(batchVariance) });
      } else {
        _moveAverage(self.movingMean, mean, self.momentum);
        _moveAverage(self.movingVariance, batchVariance, self.momentum);
      }
      return y;
    });
  }
}
// Layer's static fromConfig (`new cls(config)`) is inherited; the typings of the untyped base do not show it.
tf.serialization.registerClass(
  BatchNormalization as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>,
);
