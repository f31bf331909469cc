/**
 * A training-mode forward pass that frees each layer's output once its last consumer has run.
 *
 * tfjs-layers' `execute` keeps every intermediate output in training mode (`if (!training)` in its executor),
 * although the engine keeps its own clones of exactly the tensors each gradient reads. So a training pass held
 * every activation at once, those no gradient reads (DenseNet's BatchNorm outputs, once ReLU keeps its output
 * instead; see _lean_backprop.ts) included.
 *
 * @module
 */
import { tf, type tfl } from "./tf.ts";

// The graph fields of tfjs-layers' Container and Node that this reads (internal in its typings).
interface Symbolic {
  id: number;
}
interface GraphNode {
  inputTensors: Symbolic[];
  outputTensors: Symbolic[];
}
interface Layer {
  name: string;
  inboundNodes: GraphNode[];
  getClassName(): string;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training: boolean }): tf.Tensor | tf.Tensor[];
}
interface Graph {
  inputs: Symbolic[];
  outputs: Symbolic[];
  layers: Layer[];
}

/**
 * The model's output for `x` in training mode, as `model.apply(x, { training: true })` gives it (gradients
 * included), each intermediate freed after its last use. A model with a layer used twice goes through
 * `model.apply`.
 *
 * @param model a functional model (or sequential) with one input and one output.
 * @param x the input batch (the caller still owns it).
 * @throws {RangeError} for a model with several inputs or outputs.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./tf.ts";
 * import { createDenseNet } from "./densenet.ts";
 * import { selectBackend } from "./backend.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [2], growthRate: 4, inputSize: 16 });
 * const x = tf.randomUniform([2, 16, 16, 1], 0, 255);
 * const lean = trainingForward(model, x), full = model.apply(x, { training: true }) as tf.Tensor;
 * assert.ok(tf.max(tf.abs(tf.sub(lean, full))).dataSync()[0]! < 1e-6);
 * ```
 */
export function trainingForward(model: tfl.LayersModel, x: tf.Tensor): tf.Tensor {
  const graph = model as unknown as Graph;
  const fallback = () => model.apply(x, { training: true }) as tf.Tensor;
  const [input] = graph.inputs ?? [], [output] = graph.outputs ?? [];
  if (graph.inputs?.length !== 1 || graph.outputs?.length !== 1 || !input || !output) {
    throw new RangeError(
      `trainingForward: the model must have one input and one output, this model has ${graph.inputs?.length} and ${graph.outputs?.length}`,
    );
  }
  const steps: { layer: Layer; node: GraphNode }[] = [];
  const uses = new Map<number, number>();
  for (const layer of graph.layers) {
    const node = layer.inboundNodes.length === 1 ? layer.inboundNodes[0] : undefined;
    if (!node) return fallback(); // shared layers: leave them to tfjs-layers
    if (layer.getClassName() === "InputLayer") continue;
    steps.push({ layer, node });
    for (const t of node.inputTensors) uses.set(t.id, (uses.get(t.id) ?? 0) + 1);
  }
  const inputId = input.id, outputId = output.id;
  const values = new Map<number, tf.Tensor>([[inputId, x]]);
  // Tensors by the uses still to come of every symbolic tensor they stand for (a layer may return its input).
  const pending = new Map<tf.Tensor, number>([[x, Infinity]]);
  try {
    for (const { layer, node } of steps) {
      const inputs = node.inputTensors.map((t) => {
        const v = values.get(t.id);
        if (!v) throw new Error(`trainingForward: no value for an input of layer "${layer.name}"`);
        return v;
      });
      const result = layer.call(inputs.length === 1 ? inputs[0]! : inputs, { training: true });
      const outs = Array.isArray(result) ? result : [result];
      node.outputTensors.forEach((sym, i) => {
        const out = outs[i];
        if (!out) throw new Error(`trainingForward: layer "${layer.name}" returned no output ${i}`);
        values.set(sym.id, out);
        const left = sym.id === outputId ? Infinity : uses.get(sym.id) ?? 0;
        pending.set(out, (pending.get(out) ?? 0) + left);
      });
      for (const t of node.inputTensors) {
        const v = values.get(t.id)!;
        const left = pending.get(v)! - 1;
        pending.set(v, left);
        if (left === 0) {
          pending.delete(v);
          v.dispose();
        }
      }
    }
    const out = values.get(outputId);
    if (!out) throw new Error("trainingForward: the model's output was never computed");
    return out;
  } catch (e) {
    for (const [t] of pending) if (t !== x && t !== values.get(outputId)) t.dispose();
    throw e;
  }
}
