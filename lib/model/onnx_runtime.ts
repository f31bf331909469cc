/**
 * The ONNX Runtime engine of {@link openPredictor}: runs a bundle's `model.onnx` (written by `exportOnnx`)
 * with `npm:onnxruntime-node` on the CPU execution provider, or WebGPU/CUDA when asked for and present.
 * Imported dynamically by `openPredictor`, so code that never uses ONNX never loads the native library.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { readBundleMetadata } from "./bundle.ts";
import type { BundleMetadata } from "./bundle_format.ts";
import {
  checkModelShape,
  checkPredictArgs,
  MODEL_ONNX,
  type ModelShape,
  type Prediction,
  type Predictor,
  PredictorDisposedError,
} from "./predictor_contract.ts";
import { ModelError } from "./errors.ts";
import { onnxNativeDir } from "../onnx_native.ts";

/** Execution providers this engine can be asked for. */
export const ONNX_PROVIDERS = ["cpu", "webgpu", "cuda"] as const;
/** One execution provider. */
export type OnnxProvider = typeof ONNX_PROVIDERS[number];

/** Options for {@link openOnnxPredictor}. */
export interface OnnxPredictorOptions {
  /** Intra-op threads. @default ONNX Runtime's choice (one per core) */
  threads?: number;
  /** Execution provider. @default "cpu" */
  provider?: OnnxProvider;
}

/**
 * ONNX Runtime could not open or run a bundle's model (missing file, provider not present, bad graph).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new OnnxRuntimeError("no cuda", "b/model.onnx");
 * assert.equal(e.file, "b/model.onnx");
 * ```
 */
export class OnnxRuntimeError extends ModelError {
  constructor(message: string, readonly file: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Folder of onnxruntime-node's native binding and libraries (resolvable: this module imported the package). */
function nativeDir(): string {
  return onnxNativeDir()!;
}

/**
 * Why ONNX Runtime's `provider` cannot run in this process, or `null` when it can be tried: the provider is not
 * in this onnxruntime-node build, or (cuda) its library was never fetched (its install script, which fetches
 * it, is skipped by Deno).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(onnxProviderProblem("cpu"), null);
 * ```
 */
export function onnxProviderProblem(provider: OnnxProvider): string | null {
  const available = ort.listSupportedBackends().find((b) => b.name === provider);
  if (!available) {
    return `this onnxruntime-node build has only ${
      ort.listSupportedBackends().map((b) => b.name).join(", ")
    }`;
  }
  if (
    provider === "cuda" && !available.bundled &&
    !existsSync(join(nativeDir(), "libonnxruntime_providers_cuda.so"))
  ) {
    return `libonnxruntime_providers_cuda.so is not installed beside onnxruntime-node's binding in ${nativeDir()} ` +
      "(its install script, which fetches it, is skipped by Deno)";
  }
  return null;
}

/**
 * The session options the project opens ONNX Runtime with (the predictor, the training engine, the benches):
 * every graph optimisation, one operator at a time on `threads` intra-op threads (ONNX Runtime's default: every
 * core), on `provider` (with `deviceId`, that GPU).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(onnxSessionOptions("cuda", 2, 1).executionProviders, [{ name: "cuda", deviceId: 1 }]);
 * assert.equal(onnxSessionOptions("cpu").intraOpNumThreads, undefined);
 * ```
 */
export function onnxSessionOptions(
  provider: OnnxProvider,
  threads?: number,
  deviceId?: number,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [deviceId === undefined ? provider : { name: provider, deviceId }],
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    interOpNumThreads: 1,
    ...(threads ? { intraOpNumThreads: threads } : {}),
  };
}

/** The first line of an error's message (ONNX Runtime's carry a native stack after it). */
export function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
}

class OnnxPredictor implements Predictor {
  readonly engine = "onnx" as const;
  #session: ort.InferenceSession | null;
  #hasCam: boolean;

  constructor(
    session: ort.InferenceSession,
    readonly metadata: BundleMetadata,
    readonly provider: OnnxProvider,
  ) {
    this.#session = session;
    this.#hasCam = session.outputNames.includes("cam");
  }

  async predict(pixels: Uint8Array, n: number, options: { cam?: boolean } = {}): Promise<Prediction> {
    const session = this.#session;
    if (!session) throw new PredictorDisposedError(this.engine);
    checkPredictArgs(pixels, n, this.metadata);
    if (options.cam && !this.#hasCam) {
      throw new RangeError("predict(): this model.onnx has no cam output, so no class activation maps");
    }
    const { inputSize: s, channels: c } = this.metadata;
    const image = new ort.Tensor("float32", Float32Array.from(pixels), [n, s, s, c]);
    const out = await session.run({ image }, options.cam ? ["probabilities", "cam"] : ["probabilities"]);
    const { probabilities, cam } = out;
    if (!probabilities || (options.cam && !cam)) {
      throw new OnnxRuntimeError(
        `predict(): ONNX Runtime returned no ${probabilities ? "cam" : "probabilities"}`,
        MODEL_ONNX,
      );
    }
    if (!options.cam || !cam) return { probabilities: probabilities.data as Float32Array };
    const [, height, width, classes] = cam.dims as [number, number, number, number];
    return {
      probabilities: probabilities.data as Float32Array,
      cam: { data: cam.data as Float32Array, height, width, classes },
    };
  }

  async dispose(): Promise<void> {
    const session = this.#session;
    this.#session = null;
    await session?.release();
  }
}

/**
 * Opens `<dir>/model.onnx` with ONNX Runtime as a {@link Predictor} (engine `onnx`).
 *
 * @param dir a bundle folder holding `metadata.json` and `model.onnx`.
 * @returns the predictor; `dispose()` releases the session.
 * @throws {TypeError} for an unknown provider or a bad thread count; {@link OnnxRuntimeError} when the file
 * is missing, the provider cannot be used, or ONNX Runtime refuses the model; `BundleMismatchError` when
 * the model's class count, input size or channels differ from `metadata.json` (checked before any scoring).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, saveBundle, selectBackend, writeBundleOnnx } from "./mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync() + "/b";
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * await saveBundle(model, dir);
 * await writeBundleOnnx(dir, { model });
 * const predictor = await openOnnxPredictor(dir, { threads: 1 });
 * const { probabilities } = await predictor.predict(new Uint8Array(16 * 16), 1);
 * assert.equal(probabilities.length, 14);
 * await predictor.dispose();
 * ```
 */
export async function openOnnxPredictor(dir: string, options: OnnxPredictorOptions = {}): Promise<Predictor> {
  const provider = options.provider ?? "cpu";
  if (!ONNX_PROVIDERS.includes(provider)) {
    throw new TypeError(
      `openOnnxPredictor: unknown provider "${provider}"; expected one of ${ONNX_PROVIDERS.join(", ")}`,
    );
  }
  const threads = options.threads;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new TypeError(`openOnnxPredictor: threads must be a positive integer, got ${threads}`);
  }
  const metadata = await readBundleMetadata(dir);
  const file = join(dir, MODEL_ONNX);
  if (!existsSync(file)) {
    throw new OnnxRuntimeError(
      `Cannot open "${file}": the bundle has no ${MODEL_ONNX} (write it with \`deno task cxr export onnx --model ${dir}\`)`,
      file,
    );
  }
  const problem = onnxProviderProblem(provider);
  if (problem) {
    throw new OnnxRuntimeError(`Cannot open "${file}" on the "${provider}" provider: ${problem}`, file);
  }
  const available = ort.listSupportedBackends().find((b) => b.name === provider);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, onnxSessionOptions(provider, threads));
  } catch (e) {
    const hint = provider === "cuda" && !available?.bundled
      ? " (onnxruntime-node's CUDA libraries come from its install script, which Deno skips)"
      : "";
    throw new OnnxRuntimeError(
      `Cannot open "${file}" on the "${provider}" provider: ${firstLine(e)}${hint}`,
      file,
      { cause: e },
    );
  }
  try {
    checkModelShape(dir, MODEL_ONNX, onnxShape(session, file), metadata);
  } catch (e) {
    await session.release();
    throw e;
  }
  return new OnnxPredictor(session, metadata, provider);
}

/** The shapes of the `image` input and `probabilities` output, refusing a graph without them. */
function onnxShape(session: ort.InferenceSession, file: string): ModelShape {
  const find = (list: readonly ort.InferenceSession.ValueMetadata[], name: string, what: string) => {
    const v = list.find((m) => m.name === name);
    if (!v || !v.isTensor || v.type !== "float32") {
      throw new OnnxRuntimeError(
        `Cannot open "${file}": it has no float32 ${what} "${name}" (found ${
          list.map((m) => `"${m.name}"`).join(", ") || "none"
        }); write it with \`deno task cxr export onnx\``,
        file,
      );
    }
    return v.shape;
  };
  return {
    input: find(session.inputMetadata, "image", "input"),
    output: find(session.outputMetadata, "probabilities", "output"),
  };
}
