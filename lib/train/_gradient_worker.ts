/**
 * The Deno Worker behind {@linkcode startGradientWorkers} (lib/train/parallel.ts): builds its copy of the
 * model on its own backend, then, per step, loads the weights the coordinator shared, computes the gradients
 * of its micro-batches with the BatchNorm moves held back, writes the gradient sums into its shared buffer
 * and answers with the loss and the moves.
 *
 * @module
 */
import {
  type BackendName,
  type MovingStatisticsUpdate,
  recordMovingStatistics,
  selectBackend,
  tf,
  tfl,
} from "../model/mod.ts";
import type { ClassWeights } from "./loss.ts";
import { computeGradients } from "./step.ts";

/** What the coordinator asks. */
export type WorkerRequest =
  | {
    type: "init";
    backend: BackendName;
    topology: unknown;
    trainable: boolean[];
    layout: { shapes: number[][]; offsets: number[]; names: string[] };
    weightBuffer: SharedArrayBuffer;
    gradBuffer: SharedArrayBuffer;
  }
  | {
    type: "step";
    x: Float32Array;
    xShape: number[];
    y: Float32Array;
    yShape: number[];
    microBatch: number;
    total: number;
    weights?: ClassWeights;
    /** Indices into the model's weights of the variables to train, in the coordinator's order. */
    variables: number[];
    /** Fault injection for tests: die with an uncaught error instead of answering. */
    die?: boolean;
  };

/** What a worker answers, without the request's `id`. */
export type WorkerAnswer =
  | { type: "ready" }
  | { type: "step"; loss: number; updates: MovingStatisticsUpdate[] }
  | { type: "error"; message: string };

/** What a worker answers (`id` echoes the request's). */
export type WorkerReply = WorkerAnswer & { id: number };

let model: tfl.LayersModel | null = null;
let layout: Extract<WorkerRequest, { type: "init" }>["layout"] | null = null;
let weightView: Float32Array | null = null;
let gradView: Float32Array | null = null;

function loadWeights(): void {
  const weights = model!.weights;
  tf.tidy(() => {
    weights.forEach((w, i) => {
      const size = w.shape.reduce((a, b) => a! * b!, 1)!;
      const at = layout!.offsets[i];
      w.write(tf.tensor(weightView!.subarray(at, at + size), layout!.shapes[i]));
    });
  });
}

async function handle(request: WorkerRequest): Promise<WorkerAnswer> {
  if (request.type === "init") {
    await selectBackend(request.backend);
    model = await tfl.models.modelFromJSON({ modelTopology: request.topology } as tf.io.ModelJSON);
    model.layers.forEach((l, i) => l.trainable = request.trainable[i]);
    layout = request.layout;
    const names = model.weights.map((w) => w.originalName);
    if (names.length !== layout.names.length || names.some((n, i) => n !== layout!.names[i])) {
      throw new Error(
        `the model built here has other weights than the coordinator's (${names.length} vs ${layout.names.length})`,
      );
    }
    weightView = new Float32Array(request.weightBuffer);
    gradView = new Float32Array(request.gradBuffer);
    return { type: "ready" };
  }
  if (!model) throw new Error("step before init");
  if (request.die) {
    setTimeout(() => {
      throw new Error("told to die (a test)");
    });
    return new Promise(() => {}); // never answers, as a worker that died
  }
  loadWeights();
  const x = tf.tensor(request.x, request.xShape), y = tf.tensor(request.y, request.yShape);
  const vars = request.variables.map((i) => model!.weights[i].read() as tf.Variable);
  try {
    const { result, updates } = await recordMovingStatistics(() =>
      computeGradients(model!, x, y, {
        microBatch: request.microBatch,
        weights: request.weights,
        variables: vars,
        total: request.total,
      })
    );
    try {
      for (let k = 0; k < vars.length; k++) {
        const i = request.variables[k];
        gradView!.set(await result.grads[vars[k].name].data() as Float32Array, layout!.offsets[i]);
      }
    } finally {
      tf.dispose(Object.values(result.grads));
    }
    return { type: "step", loss: result.loss, updates };
  } finally {
    tf.dispose([x, y]);
  }
}

async function onMessage(event: Event): Promise<void> {
  const e = event as MessageEvent<WorkerRequest & { id: number }>;
  let reply: WorkerAnswer;
  try {
    reply = await handle(e.data);
  } catch (err) {
    reply = {
      type: "error",
      message: `${(err as Error)?.name ?? "Error"}: ${(err as Error)?.message ?? err}`,
    };
  }
  (self as unknown as Worker).postMessage({ ...reply, id: e.data.id });
}

(self as unknown as Worker).onmessage = (event: MessageEvent) => {
  void onMessage(event);
};
