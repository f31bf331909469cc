/**
 * The Deno Worker behind {@linkcode startGradientWorkers} (lib/train/parallel.ts): builds its copy of the
 * model on its own backend (and, for the onnx engine, its own ONNX Runtime session), then, per step, loads the
 * weights the coordinator shared, computes the gradients of its micro-batches with the BatchNorm moves held
 * back, writes the gradient sums into its shared buffer and answers with the loss and the moves.
 *
 * @module
 */
import { recordMovingStatistics, selectBackend, tf, tfl } from "../model/mod.ts";
import type { WorkerAnswer, WorkerRequest } from "./_gradient_protocol.ts";
import { computeGradients } from "./step.ts";
import type { OnnxGradients } from "./onnx_gradients.ts";

/** This worker's copy of the model, with where each weight lies in the shared buffers. */
interface Copy {
  model: tfl.LayersModel;
  slots: { weight: tfl.LayerVariable; shape: number[]; offset: number; size: number }[];
  weightView: Float32Array;
  gradView: Float32Array;
  /** The onnx engine on this copy, when the coordinator asked for ONNX Runtime. */
  onnx: OnnxGradients | null;
}
let copy: Copy | null = null;

async function init(request: Extract<WorkerRequest, { type: "init" }>): Promise<Copy> {
  await selectBackend(request.backend);
  const model = await tfl.models.modelFromJSON({ modelTopology: request.topology } as tf.io.ModelJSON);
  model.layers.forEach((l, i) => l.trainable = request.trainable[i] ?? l.trainable);
  const built = model.weights, layout = request.layout;
  const mismatch = () =>
    new Error(
      `the model built here has other weights than the coordinator's (${built.length} vs ${layout.length})`,
    );
  if (built.length !== layout.length) throw mismatch();
  const slots = layout.map(({ name, shape, offset }, i) => {
    const weight = built[i];
    if (weight?.originalName !== name) throw mismatch();
    return { weight, shape, offset, size: tf.util.sizeFromShape(shape) };
  });
  // Loaded only here: a tfjs worker does not load ONNX Runtime's native library.
  const onnx = request.onnx
    ? await (await import("./onnx_gradients.ts")).startOnnxGradients(model, request.onnx)
    : null;
  return {
    model,
    slots,
    weightView: new Float32Array(request.weightBuffer),
    gradView: new Float32Array(request.gradBuffer),
    onnx,
  };
}

async function handle(request: WorkerRequest): Promise<WorkerAnswer> {
  if (request.type === "init") {
    copy = await init(request);
    return { type: "ready" };
  }
  if (!copy) throw new Error("step before init");
  if (request.die) {
    setTimeout(() => {
      throw new Error("told to die (a test)");
    });
    return new Promise(() => {}); // never answers, as a worker that died
  }
  const { model, slots, weightView, gradView, onnx } = copy;
  tf.tidy(() => {
    for (const { weight, shape, offset, size } of slots) {
      weight.write(tf.tensor(weightView.subarray(offset, offset + size), shape));
    }
  });
  const chosen = request.variables.map((i) => {
    const slot = slots[i];
    if (!slot) throw new Error(`the coordinator asked for weight ${i} of ${slots.length}`);
    return { variable: slot.weight.read() as tf.Variable, offset: slot.offset };
  });
  const x = tf.tensor(request.x, request.xShape), y = tf.tensor(request.y, request.yShape);
  try {
    const options = {
      microBatch: request.microBatch,
      weights: request.weights,
      variables: chosen.map((c) => c.variable),
      total: request.total,
    };
    const { result, updates } = onnx
      ? await onnx.computeGradients(x, y, options).then((r) => ({ result: r, updates: r.updates }))
      : await recordMovingStatistics(() => computeGradients(model, x, y, options));
    try {
      for (const { variable, offset } of chosen) {
        const grad = result.grads[variable.name];
        if (!grad) throw new Error(`no gradient for "${variable.name}"`);
        gradView.set(await grad.data() as Float32Array, offset);
      }
    } finally {
      tf.dispose(Object.values(result.grads));
    }
    return { type: "step", loss: result.loss, updates };
  } finally {
    tf.dispose([x, y]);
  }
}

(self as unknown as Worker).onmessage = async (e: MessageEvent<WorkerRequest & { id: number }>) => {
  let reply: WorkerAnswer;
  try {
    reply = await handle(e.data);
  } catch (err) {
    const e = err as Error | undefined;
    reply = { type: "error", message: `${e?.name ?? "Error"}: ${e?.message ?? err}` };
  }
  (self as unknown as Worker).postMessage({ ...reply, id: e.data.id });
};
