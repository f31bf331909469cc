/**
 * Frees memory during tfjs' backward pass as soon as nothing needs it any more.
 *
 * tfjs-core's `backpropagateGradients` (4.22.0) keeps the gradient of every intermediate tensor, and every
 * tensor a node saved for its gradient, until the whole backward pass ends, although once the node that
 * produced a tensor has been processed neither is read again (every consumer of a tensor comes after its
 * producer on the tape). So a training step's peak was all forward activations plus a gradient for each:
 * DenseNet-121 at 224 px needed 953 MB per image on wasm, capping micro-batches at 4 in the 4 GB heap.
 *
 * {@linkcode installLeanBackprop} wraps each tape node's gradient function (through the engine's
 * `addTapeNode`) so that, when the next node's gradient is asked for, the previous node's output gradients and
 * saved tensors (the engine's own clones) are disposed, and so are gradients tfjs added to an earlier one (it
 * frees the old sum, not the addend). A gradient handed on unchanged or to two inputs, a caller's `dy` and
 * higher-order gradients are left alone. The results are unchanged; only when memory is freed differs.
 *
 * @module
 */
// tfjs-core itself, not ./tf.ts: tf.ts installs this at load time.
import {
  cast,
  engine as tfEngine,
  type GradConfig,
  mul,
  registerGradient,
  step,
  type Tensor,
} from "@tensorflow/tfjs-core";

interface TapeNode {
  inputs: Record<string, Tensor>;
  saved?: Tensor[];
  gradient?: (dys: (Tensor | null)[]) => Record<string, () => Tensor>;
}

interface Engine {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  addTapeNode(...args: unknown[]): void;
  gradients(f: () => Tensor, xs: Tensor[], dy?: Tensor, allowNoGradients?: boolean): unknown;
  leanBackprop?: true;
}

let enabled = true;

/**
 * Turns the early freeing of {@linkcode installLeanBackprop} off (for comparisons) or back on; it is on once
 * installed.
 *
 * @param on whether backward passes free memory early.
 * @returns whether it was on.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(setLeanBackprop(false), true);
 * assert.equal(setLeanBackprop(true), false);
 * ```
 */
export function setLeanBackprop(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/**
 * Installs the early freeing on tfjs' engine (once; later calls do nothing).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./tf.ts"; // which installs it
 * installLeanBackprop(); // a second time: nothing happens
 * const before = tf.memory().numTensors;
 * const g = tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.relu(x))))(tf.tensor1d([-1, 2]));
 * assert.deepEqual([...g.dataSync()], [0, 4]);
 * assert.equal(tf.memory().numTensors, before + 2); // the input and its gradient
 * ```
 */
export function installLeanBackprop(): void {
  const engine = tfEngine() as unknown as Engine;
  if (engine.leanBackprop) return;
  engine.leanBackprop = true;
  registerGradient(RELU_GRADIENT);
  /** The previous node's dys, saved tensors and input gradients added to an earlier one, freed with the next. */
  let pending: { dys: Tensor[]; saved: Tensor[]; keep: Set<Tensor>; added: Tensor[] } | null = null;
  /** Per pass: how many times each tensor came back from a gradient function, and as a first gradient. */
  let handedOut = new WeakMap<Tensor, number>();
  let stored = new WeakSet<Tensor>();
  /** Per pass: the tensors (by id) that have a gradient already. */
  let hasGradient = new Set<number>();
  let seed: Tensor | undefined;

  const release = () => {
    if (!pending) return;
    for (const t of pending.dys) {
      if (!pending.keep.has(t) && (handedOut.get(t) ?? 0) <= 1 && t !== seed) t.dispose();
    }
    for (const t of pending.added) if (!stored.has(t) && t !== seed) t.dispose();
    for (const t of pending.saved) t.dispose();
    pending = null;
  };

  const addTapeNode = engine.addTapeNode;
  engine.addTapeNode = function (this: Engine, ...args: unknown[]) {
    addTapeNode.apply(this, args);
    const node = this.state.activeTape!.at(-1)!;
    const gradient = node.gradient;
    if (!gradient) return;
    node.gradient = (dys) => {
      // Higher-order gradients read tapes in other orders: leave their memory alone.
      if (this.state.gradientDepth !== 0 || !enabled) return gradient(dys);
      release();
      const closures = gradient(dys);
      const mine = dys.filter((d): d is Tensor => d != null);
      const keep = new Set<Tensor>();
      const added: Tensor[] = [];
      const wrapped: Record<string, () => Tensor> = {};
      for (const [name, closure] of Object.entries(closures)) {
        wrapped[name] = () => {
          const dx = closure();
          handedOut.set(dx, (handedOut.get(dx) ?? 0) + 1);
          if (mine.includes(dx)) keep.add(dx); // passed on as the input's gradient: still needed
          // tfjs stores the first gradient of a tensor as is and adds later ones to it.
          const id = node.inputs[name]?.id;
          if (id === undefined || !hasGradient.has(id)) {
            stored.add(dx);
            if (id !== undefined) hasGradient.add(id);
          } else added.push(dx);
          return dx;
        };
      }
      pending = { dys: mine, saved: node.saved ?? [], keep, added };
      return wrapped;
    };
  };

  const gradients = engine.gradients;
  engine.gradients = function (this: Engine, f, xs, dy, allowNoGradients) {
    if (this.state.gradientDepth !== 0) return gradients.call(this, f, xs, dy, allowNoGradients);
    const outer = { pending, handedOut, stored, hasGradient, seed };
    pending = null;
    handedOut = new WeakMap();
    stored = new WeakSet();
    hasGradient = new Set();
    seed = dy;
    try {
      return gradients.call(this, f, xs, dy, allowNoGradients);
    } finally {
      // The last node's dys and saved tensors are freed by the engine's own clean-up.
      ({ pending, handedOut, stored, hasGradient, seed } = outer);
    }
  };
}

/**
 * `Relu`'s gradient from its output rather than its input (y > 0 exactly where x > 0, so the result is the
 * same): after BatchNorm → ReLU → convolution, the convolution keeps ReLU's output for its own gradient
 * anyway, and BatchNorm's output, which tfjs kept only for this, is freed once ReLU has run. DenseNet-121 runs
 * 120 of these. Registered with {@linkcode installLeanBackprop}.
 */
export const RELU_GRADIENT: GradConfig = {
  kernelName: "Relu",
  outputsToSave: [true],
  gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
    const [y] = saved as [Tensor];
    return { x: () => mul(dy as Tensor, step(cast(y, "float32"))) };
  },
};
