/**
 * Model runners: {@link openPredictor} opens a model bundle as a `Predictor` (predictor_contract.ts), with a
 * tfjs engine (any backend) or the ONNX Runtime engine (`onnx_runtime.ts`, loaded only when asked for).
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { BundleMetadata } from "./bundle_format.ts";
import { readBundleMetadata } from "./bundle.ts";
import { selectBackend } from "./backend.ts";
import { loadModel } from "./io.ts";
import { tf, tfl } from "./tf.ts";
import { one } from "./_one.ts";
import {
  checkModelShape,
  checkPredictArgs,
  type EngineName,
  ENGINES,
  MODEL_ONNX,
  type Prediction,
  type Predictor,
  PredictorDisposedError,
} from "./predictor_contract.ts";

/** Options for {@link openPredictor}. */
export interface OpenPredictorOptions {
  /** "auto": onnx when the bundle has model.onnx, else tfjs. @default "auto" */
  engine?: EngineName | "auto";
  /** ONNX Runtime intra-op threads (onnx engine only). @default ONNX Runtime's choice (all cores) */
  threads?: number;
  /** ONNX Runtime execution provider (onnx engine only). @default "cpu" */
  provider?: "cpu" | "webgpu" | "cuda";
}

/** Finds the global-average-pooling layer whose output feeds the final Dense layer, for CAMs. */
function camLayers(model: tfl.LayersModel): { pool: tfl.layers.Layer; dense: tfl.layers.Layer } | null {
  const dense = model.layers.at(-1);
  if (dense?.getClassName() !== "Dense" || dense.inboundNodes.length !== 1) return null;
  const pool = dense.inboundNodes[0]?.inboundLayers[0];
  if (pool?.getClassName() !== "GlobalAveragePooling2D") return null;
  return { pool, dense };
}

class TfjsPredictor implements Predictor {
  readonly engine = "tfjs" as const;
  #model: tfl.LayersModel | null;
  #both: tfl.LayersModel | null = null;
  #kernel: tf.Tensor2D | null = null;

  constructor(model: tfl.LayersModel, readonly metadata: BundleMetadata) {
    this.#model = model;
    const cam = camLayers(model);
    if (!cam) return;
    // Shares the layers (and weights) of `model`: only `model` is disposed.
    const outputs = [one(model.outputs), cam.pool.input as tfl.SymbolicTensor];
    this.#both = tfl.model({ inputs: model.inputs, outputs });
    this.#kernel = cam.dense.getWeights()[0] as tf.Tensor2D;
  }

  async predict(pixels: Uint8Array, n: number, options: { cam?: boolean } = {}): Promise<Prediction> {
    if (!this.#model) throw new PredictorDisposedError(this.engine);
    checkPredictArgs(pixels, n, this.metadata);
    const { inputSize: s, channels: c } = this.metadata;
    if (options.cam && !this.#both) {
      throw new RangeError(
        "predict(): this model has no GlobalAveragePooling2D -> Dense head, so no class activation maps",
      );
    }
    const x = tf.tensor4d(Float32Array.from(pixels), [n, s, s, c]);
    try {
      if (!options.cam) {
        const y = this.#model.predict(x) as tf.Tensor;
        try {
          return { probabilities: new Float32Array(await y.data()) };
        } finally {
          y.dispose();
        }
      }
      const [y, features] = this.#both!.predict(x) as [tf.Tensor, tf.Tensor];
      const [, h, w, k] = features.shape as [number, number, number, number];
      const classes = this.#kernel!.shape[1];
      const cam = tf.tidy(() => tf.matMul(features.reshape([n * h * w, k]), this.#kernel!));
      try {
        const [probabilities, maps] = await Promise.all([y.data(), cam.data()]);
        return {
          probabilities: new Float32Array(probabilities),
          cam: { data: new Float32Array(maps), height: h, width: w, classes },
        };
      } finally {
        tf.dispose([y, features, cam]);
      }
    } finally {
      x.dispose();
    }
  }

  dispose(): Promise<void> {
    this.#model?.dispose();
    this.#model = this.#both = this.#kernel = null;
    return Promise.resolve();
  }
}

/**
 * Wraps an already loaded tfjs model as a {@link Predictor} (the tfjs engine of {@link openPredictor}).
 * The predictor owns the model: its `dispose()` disposes it.
 *
 * @param model a model taking `[n, size, size, channels]` raw pixels.
 * @param metadata the bundle metadata describing it.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, saveBundle, selectBackend } from "./mod.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const metadata = await saveBundle(model, Deno.makeTempDirSync() + "/b");
 * const predictor = tfjsPredictor(model, metadata);
 * const { probabilities, cam } = await predictor.predict(new Uint8Array(2 * 16 * 16), 2, { cam: true });
 * assert.equal(probabilities.length, 28);
 * assert.deepEqual([cam!.height, cam!.width, cam!.classes], [4, 4, 14]);
 * await predictor.dispose();
 * ```
 */
export function tfjsPredictor(model: tfl.LayersModel, metadata: BundleMetadata): Predictor {
  return new TfjsPredictor(model, metadata);
}

/**
 * The engine {@linkcode openPredictor} uses for a bundle: `"auto"` means ONNX Runtime when the bundle has
 * `model.onnx`, else tfjs. Callers ask it to know whether a tfjs backend must be chosen first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * assert.equal(predictorEngine(dir), "tfjs");
 * Deno.writeFileSync(dir + "/model.onnx", new Uint8Array());
 * assert.equal(predictorEngine(dir), "onnx");
 * assert.equal(predictorEngine(dir, "tfjs"), "tfjs");
 * ```
 */
export function predictorEngine(dir: string, engine: EngineName | "auto" = "auto"): EngineName {
  return engine !== "auto" ? engine : existsSync(join(dir, MODEL_ONNX)) ? "onnx" : "tfjs";
}

/**
 * Opens a model bundle for scoring on the engine {@linkcode predictorEngine} picks. The tfjs engine uses the
 * active tfjs backend (it selects `auto` when none is set). Both engines check the model file against
 * `metadata.json` here ({@link checkModelShape}), before any image is scored.
 *
 * @returns a predictor; call `dispose()` when done.
 * @throws {TypeError} for an unknown engine; `BundleMetadataSyntaxError`/`ModelFileError` for a broken
 * bundle; `BundleMismatchError` when the model disagrees with its metadata; `OnnxRuntimeError` when the onnx
 * engine is asked for and cannot run.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, saveBundle, selectBackend } from "./mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync() + "/b";
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * await saveBundle(model, dir);
 * model.dispose();
 * const predictor = await openPredictor(dir);
 * assert.equal(predictor.engine, "tfjs");
 * const { probabilities } = await predictor.predict(new Uint8Array(16 * 16), 1);
 * assert.ok(probabilities.every((p) => p > 0 && p < 1));
 * await assert.rejects(predictor.predict(new Uint8Array(3), 1), RangeError);
 * await predictor.dispose();
 * ```
 */
export async function openPredictor(dir: string, options: OpenPredictorOptions = {}): Promise<Predictor> {
  const engine = options.engine ?? "auto";
  if (engine !== "auto" && !ENGINES.includes(engine)) {
    throw new TypeError(
      `openPredictor: unknown engine "${engine}"; expected one of auto, ${ENGINES.join(", ")}`,
    );
  }
  const metadata = await readBundleMetadata(dir);
  if (predictorEngine(dir, engine) === "onnx") {
    const { openOnnxPredictor } = await import("./onnx_runtime.ts");
    return await openOnnxPredictor(dir, options);
  }
  if (!tf.getBackend()) await selectBackend("auto");
  const model = await loadModel(dir);
  try {
    checkModelShape(
      dir,
      "model.json",
      { input: one(model.inputs).shape, output: one(model.outputs).shape },
      metadata,
    );
  } catch (e) {
    model.dispose();
    throw e;
  }
  return new TfjsPredictor(model, metadata);
}
