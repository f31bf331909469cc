/**
 * Adam as Keras applies it, so a step here is a step of the Keras recipe (CheXNet's) and not only close to it.
 *
 * Both keep the same moments, m = β1·m + (1 − β1)·g and v = β2·v + (1 − β2)·g². They differ in where ε goes:
 * - Keras (tf.keras 2's `Adam`, TensorFlow's `ApplyAdam` kernel, Keras 3): the bias corrections go into the
 *   step size and ε is added to the uncorrected √v, the "ε hat" of Kingma & Ba's section 2:
 *   `lr_t = lr · √(1 − β2^t) / (1 − β1^t)`, `w −= lr_t · m / (√v + ε)`, ε = 1e-7.
 * - tfjs' `tf.train.adam` (and PyTorch's `torch.optim.Adam`, ε = 1e-8) add ε to √v̂ of the corrected moments:
 *   `w −= lr · m̂ / (√v̂ + ε)`, with ε the backend's epsilon (1e-7 on cpu and wasm, 1e-4 on float16 WebGL).
 *
 * Written in tfjs' form, Keras' ε is ε / √(1 − β2^t): 3.2e-6 instead of 1e-7 at the first step. The two agree
 * for |g| ≫ 3e-6 and part for the near-zero gradients BatchNorm's invariances produce (DenseNet's stem `γ`
 * and `β` get 1e-8 to 1e-5): on lib/train/step_reference_test.ts' step tfjs' form misses Keras' weights by
 * 6.5e-3 at lr 0.01, 6.5e-4 at lr 1e-3.
 *
 * The optimizer's weights (`iterations`, then `<variable>/m` for every variable, then every `<variable>/v`)
 * and its writable `learningRate` are those of tfjs' `AdamOptimizer`, so checkpoints of either restore into
 * the other.
 *
 * @module
 */
import { tf } from "../model/mod.ts";

/** Options of {@linkcode kerasAdam}; the defaults are Keras'. */
export interface KerasAdamOptions {
  /** Decay of the first moment. @default 0.9 */
  beta1?: number;
  /** Decay of the second moment. @default 0.999 */
  beta2?: number;
  /** Added to √v before dividing (Keras' "epsilon hat"). @default 1e-7 */
  epsilon?: number;
}

interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

interface Moment {
  originalName: string;
  variable: tf.Variable;
}

/**
 * Adam with Keras' update rule; see the module doc. Make one with {@linkcode kerasAdam}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../model/mod.ts";
 * const w = tf.variable(tf.tensor1d([1]));
 * const adam = new KerasAdamOptimizer(0.1, 0.9, 0.999, 1e-7);
 * adam.applyGradients({ [w.name]: tf.tensor1d([2]) });
 * // First step: lr · √(1 − β2) / (1 − β1) · m / (√v + ε) = lr · g / (|g| + ε / √(1 − β2)).
 * assert.ok(Math.abs(((await w.data())[0] ?? NaN) - (1 - 0.1 * 2 / (2 + 1e-7 / Math.sqrt(0.001)))) < 1e-6);
 * assert.equal(adam.iterations, 1);
 * ```
 */
export class KerasAdamOptimizer extends tf.Optimizer {
  /** Serialisation name. */
  static className = "KerasAdam";
  #m: Moment[] = [];
  #v: Moment[] = [];

  /**
   * @param learningRate the step size; writable between steps (ReduceLROnPlateau sets it).
   * @param beta1 decay of the first moment.
   * @param beta2 decay of the second moment.
   * @param epsilon added to √v.
   */
  constructor(
    public learningRate: number,
    readonly beta1: number,
    readonly beta2: number,
    readonly epsilon: number,
  ) {
    super();
  }

  /** Applies one step; moments are matched to variables by position, as tfjs' Adam does. */
  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const names = Array.isArray(variableGradients)
      ? variableGradients.map((v) => v.name)
      : Object.keys(variableGradients);
    const t = this.iterations + 1;
    // In double precision on the host, as TensorFlow computes lr_t from β^t.
    const lrT = this.learningRate * Math.sqrt(1 - this.beta2 ** t) / (1 - this.beta1 ** t);
    const { beta1, beta2, epsilon } = this;
    tf.tidy(() => {
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        if (!value) throw new RangeError(`kerasAdam: a gradient for "${name}", which is not a variable`);
        const zeros = (suffix: string) => ({
          originalName: `${name}/${suffix}`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(false)),
        });
        const mi = this.#m[i] ??= zeros("m"), vi = this.#v[i] ??= zeros("v");
        const g = Array.isArray(variableGradients) ? variableGradients[i]?.tensor : variableGradients[name];
        if (g == null) return;
        const m = tf.add(tf.mul(mi.variable, beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(vi.variable, beta2), tf.mul(tf.square(g), 1 - beta2));
        mi.variable.assign(m);
        vi.variable.assign(v);
        value.assign(tf.sub(value, tf.mul(tf.div(m, tf.add(tf.sqrt(v), epsilon)), lrT)));
      });
    });
    this.incrementIterations();
  }

  override dispose(): void {
    tf.dispose([...this.#m, ...this.#v].map((s) => s.variable));
    this.#m = [];
    this.#v = [];
  }

  override async getWeights(): Promise<NamedTensor[]> {
    return [await this.saveIterations()].concat(
      [...this.#m, ...this.#v].map((s) => ({ name: s.originalName, tensor: s.variable })),
    );
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const moments = await this.extractIterations(weightValues);
    this.dispose();
    const half = moments.length / 2;
    const toMoment = (w: NamedTensor) => ({ originalName: w.name, variable: w.tensor.variable(false) });
    this.#m = moments.slice(0, half).map(toMoment);
    this.#v = moments.slice(half).map(toMoment);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  /** Rebuilds an optimizer from {@linkcode KerasAdamOptimizer.getConfig}'s output. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(config.learningRate, config.beta1, config.beta2, config.epsilon);
  }
}
tf.serialization.registerClass(KerasAdamOptimizer);

/**
 * Adam with Keras' update rule and defaults (β1 0.9, β2 0.999, ε 1e-7 on every backend); the optimizer
 * `train` uses.
 *
 * @param learningRate the step size.
 * @param options β1, β2, ε.
 * @returns a fresh optimizer (its moments are created at the first step; `dispose` frees them).
 * @throws {RangeError} when the learning rate is not positive, a β is outside [0, 1) or ε is negative.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "../model/mod.ts";
 * const w = tf.variable(tf.scalar(3));
 * const adam = kerasAdam(0.1);
 * for (let i = 0; i < 50; i++) adam.minimize(() => tf.square(w) as tf.Scalar);
 * assert.ok(Math.abs(await w.array() as number) < 1);
 * assert.equal((await adam.getWeights()).length, 3); // iterations, m, v
 * adam.dispose();
 * ```
 */
export function kerasAdam(learningRate = 0.001, options: KerasAdamOptions = {}): KerasAdamOptimizer {
  const { beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7 } = options;
  if (!(learningRate > 0)) throw new RangeError(`kerasAdam: learningRate must be > 0, got ${learningRate}`);
  for (const [k, b] of [["beta1", beta1], ["beta2", beta2]] as const) {
    if (!(b >= 0 && b < 1)) throw new RangeError(`kerasAdam: ${k} must be in [0, 1), got ${b}`);
  }
  if (!(epsilon >= 0)) throw new RangeError(`kerasAdam: epsilon must be >= 0, got ${epsilon}`);
  return new KerasAdamOptimizer(learningRate, beta1, beta2, epsilon);
}
