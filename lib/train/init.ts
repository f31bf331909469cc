/**
 * Where training starts (`train --init imagenet|none|FILE.h5`) and what it trains (`--freeze
 * backbone|none|LAYER`).
 *
 * - `imagenet`: Keras Applications' DenseNet-121 "notop" file (lib/model's `ensureImagenetWeights`: downloaded
 *   once, md5-checked, cached outside the work tree); the head `predictions` starts fresh.
 * - `none`: random initialisation (Keras' defaults: Glorot-uniform kernels, BatchNorm γ = 1, β = 0).
 * - a path: any Keras HDF5 weights file whose layer names match (a CheXNet Keras checkpoint, a colleague's
 *   weights); weights it lacks stay as initialised and are listed, a shape mismatch is an error naming every one.
 *
 * Freezing ({@linkcode freezeLayers}) makes a frozen backbone a fixed feature extractor, as Keras'
 * `trainable = False` does.
 *
 * @module
 */
import { basename } from "node:path";
import { md5File } from "../nih/download.ts";
import { loadSettings } from "../config.ts";
import { htmlTable, withDisplay } from "../display.ts";
import {
  BatchNormalization,
  ensureImagenetWeights,
  importKerasWeights,
  type PretrainedOptions,
  tf,
  tfl,
  weightsProgress,
  type WeightsProvenance,
} from "../model/mod.ts";
import { TrainError } from "./errors.ts";

/** What `--init` names: `imagenet`, `none`, or the path of a Keras HDF5 file. */
export type InitChoice = "imagenet" | "none" | (string & Record<never, never>);

/** What `--freeze` names: `none`, `backbone` (all but `predictions`), or the first layer to train. */
export type FreezeChoice = "none" | "backbone" | (string & Record<never, never>);

/** The head's layer name in `createDenseNet` models. */
export const HEAD_LAYER = "predictions";

/**
 * The default `--init` of an architecture: `imagenet` for DenseNet-121 (as CheXNet), `none` for anything else
 * (no published weights fit the tiny demo DenseNet).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(defaultInit("densenet121"), "imagenet");
 * assert.equal(defaultInit("tiny"), "none");
 * ```
 */
export function defaultInit(arch: string): "imagenet" | "none" {
  return arch === "densenet121" ? "imagenet" : "none";
}

/**
 * Checks that `init` fits `arch`.
 *
 * @throws {RangeError} for `imagenet` with an architecture other than `densenet121`, or an empty path.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.throws(() => checkInit("tiny", "imagenet"), /ImageNet weights exist only for densenet121/);
 * checkInit("tiny", "none");
 * ```
 */
export function checkInit(arch: string, init: InitChoice): void {
  if (init === "imagenet" && arch !== "densenet121") {
    throw new RangeError(
      `train: --init imagenet: ImageNet weights exist only for densenet121, not "${arch}"; use --init none or a Keras .h5 file`,
    );
  }
  if (init.trim() === "") throw new RangeError("train: --init must be imagenet, none or a file path");
}

/**
 * Re-draws every kernel of `model` from Glorot-uniform (Keras' and tfjs' default for convolutions and dense
 * layers) with seeds derived from `seed`, so a run from random weights is reproducible: tfjs-layers otherwise
 * seeds each initializer from `Math.random`. Biases and BatchNorm parameters start at their fixed values already.
 *
 * @param seed the run's seed.
 * @returns the number of kernels drawn.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const a = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const b = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * seedKernels(a, 7);
 * seedKernels(b, 7);
 * const [ka] = a.getLayer("conv1/conv").getWeights(), [kb] = b.getLayer("conv1/conv").getWeights();
 * assert.deepEqual(await ka?.data(), await kb?.data());
 * ```
 */
export function seedKernels(model: tfl.LayersModel, seed: number): number {
  let n = 0;
  for (const layer of model.layers) {
    for (const weight of layer.weights) {
      if (!weight.originalName.endsWith("/kernel")) continue;
      const init = tfl.initializers.glorotUniform({ seed: (seed * 7919 + n++ * 104729) % 2 ** 31 });
      tf.tidy(() => {
        weight.write(init.apply(weight.shape as number[], "float32"));
      });
    }
  }
  return n;
}

/** Options of {@linkcode initializeWeights} and {@linkcode prepareInit}. */
export interface InitOptions {
  /** Download settings of the ImageNet file (base URL, cache folder, progress). Unset base URL and cache
   * folder come from the settings (`CXR_WEIGHTS_BASE_URL`, `CXR_WEIGHTS_CACHE`); without `onProgress` a
   * progress bar shows the download. */
  pretrained?: PretrainedOptions | undefined;
  /** The architecture the weights are for; `imagenet` needs `densenet121`. @default "densenet121" */
  arch?: string;
}

/** The weights file an init resolves to, before anything is loaded; renders as a table in Jupyter. */
export interface InitSource {
  /** `imagenet`, `none` or `file`. */
  source: "imagenet" | "none" | "file";
  /** The weights file on this machine, or `null` for `none`. */
  path: string | null;
  /** Its md5 (verified against Keras' for `imagenet`), or `null`. */
  md5: string | null;
  /** Where it was downloaded from (no query string), or `null`. */
  url: string | null;
  /** `downloaded` now or `cached` before (imagenet), `local` (a file), `random` (none). */
  status: "downloaded" | "cached" | "local" | "random";
}

/** The rows every init display starts with: where the weights come from. */
function sourceRows(s: InitSource): [string, string][] {
  return [
    ["source", s.source === "none" ? "none (random weights)" : s.source],
    ["file", s.path ?? "–"],
    ["md5", s.md5 ?? "–"],
    ["from", s.url ?? (s.status === "local" ? "local file" : "–")],
    ["status", s.status],
  ];
}

/** A name/value table without a header, as text and HTML. */
function table(rows: [string, string][]): Record<string, string> {
  return {
    "text/plain": rows.map(([k, v]) => `${k}: ${v}`).join("\n"),
    "text/html": htmlTable([], rows.map(([k, v]) => [{ text: k, th: true, style: "text-align:left" }, v])),
  };
}

/**
 * Resolves `init` to its weights file without loading it: checks it fits the architecture, downloads the
 * ImageNet file when it is not cached yet (with a progress bar unless `pretrained.onProgress` is given) and
 * verifies it, or hashes a local file. Notebook 03 calls it to say where the weights come from; `train` calls
 * it again and finds the file cached.
 *
 * @param init `imagenet`, `none` or a Keras HDF5 path.
 * @param options architecture and download settings.
 * @returns the file, its md5, where it came from.
 * @throws {RangeError} for `imagenet` with an architecture other than densenet121; lib/model's
 *   `PretrainedWeightsError` when the ImageNet file cannot be had; {@linkcode TrainError} naming a local file
 *   that cannot be read.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const none = await prepareInit("none", { arch: "tiny" });
 * assert.equal(none.status, "random");
 * await assert.rejects(prepareInit("imagenet", { arch: "tiny" }), RangeError);
 * ```
 */
export async function prepareInit(init: InitChoice, options: InitOptions = {}): Promise<InitSource> {
  checkInit(options.arch ?? "densenet121", init);
  let source: InitSource;
  if (init === "none") {
    source = { source: "none", path: null, md5: null, url: null, status: "random" };
  } else if (init === "imagenet") {
    const given = options.pretrained ?? {};
    const settings = given.baseUrl !== undefined && given.cacheDir !== undefined ? null : loadSettings();
    const baseUrl = given.baseUrl ?? settings?.weightsBaseUrl;
    const display = given.onProgress ? null : weightsProgress();
    try {
      const { path, md5, url, status } = await ensureImagenetWeights({
        ...given,
        ...(baseUrl === undefined ? {} : { baseUrl }),
        cacheDir: given.cacheDir ?? settings!.weightsCacheDir,
        onProgress: given.onProgress ?? display!.onProgress,
      });
      source = { source: "imagenet", path, md5, url, status };
    } finally {
      display?.finish();
    }
  } else {
    const md5 = await md5File(init).catch((e) => {
      throw new TrainError(`Cannot read the --init weights file "${init}": ${e.message}`, { cause: e });
    });
    source = { source: "file", path: init, md5, url: null, status: "local" };
  }
  return withDisplay(source, () => table(sourceRows(source)));
}

/** What {@linkcode initializeWeights} did; renders as a table in Jupyter. */
export interface InitSummary extends InitSource {
  /** Weights copied. */
  loaded: number;
  /** Model weights left as initialised on purpose (the fresh ImageNet head). */
  fresh: string[];
  /** Model weights the file lacked (left as initialised). */
  missing: string[];
  /** Weights in the file the model does not have. */
  unused: string[];
}

/**
 * Sets `model`'s starting weights as `init` says.
 *
 * @param model a model from `createDenseNet` (Keras layer names).
 * @param init `imagenet`, `none` or a Keras HDF5 path.
 * @param options where the ImageNet file comes from.
 * @returns what was loaded, from where, and what was left as initialised.
 * @throws lib/model's `PretrainedWeightsError` when the ImageNet file cannot be had (naming URL, md5 and where
 *   to put it by hand); `KerasWeightsError` naming every misshapen weight, or an unreadable file.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const summary = await initializeWeights(model, "none");
 * assert.equal(summary.source, "none");
 * assert.equal(summary.loaded, 0);
 * model.dispose();
 * ```
 */
export async function initializeWeights(
  model: tfl.LayersModel,
  init: InitChoice,
  options: InitOptions = {},
): Promise<InitSummary> {
  const source = await prepareInit(init, { arch: "densenet121", ...options });
  let result = { loaded: 0, skipped: [] as string[], missing: [] as string[], unused: [] as string[] };
  if (source.source === "imagenet") {
    result = await importKerasWeights(model, source.path!, { skipLayers: [HEAD_LAYER] });
  } else if (source.source === "file") {
    result = await importKerasWeights(model, source.path!, { allowMissing: true });
  }
  const summary = {
    ...source,
    loaded: result.loaded,
    fresh: result.skipped,
    missing: result.missing,
    unused: result.unused,
  };
  const list = (l: string[]) => l.length ? l.join(", ") : "–";
  return withDisplay(summary, () =>
    table([
      ...sourceRows(summary),
      ["weights loaded", String(summary.loaded)],
      ["fresh (new head)", list(summary.fresh)],
      ["missing from the file", list(summary.missing)],
      ["in the file, not in the model", list(summary.unused)],
    ]));
}

/**
 * The bundle metadata's record of an init and freeze.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const p = weightsProvenance({ source: "none", path: null, md5: null, url: null, status: "random", loaded: 0,
 *   fresh: [], missing: [], unused: [] }, "none");
 * assert.deepEqual(p, { init: "none", freeze: "none" });
 * ```
 */
export function weightsProvenance(summary: InitSummary, freeze: FreezeChoice): WeightsProvenance {
  if (summary.source === "none") return { init: "none", freeze };
  return {
    init: summary.source,
    file: basename(summary.path!),
    md5: summary.md5!,
    ...(summary.url ? { url: summary.url } : {}),
    loaded: summary.loaded,
    missing: [...summary.missing],
    freeze,
  };
}

/** What {@linkcode freezeLayers} did. */
export interface FreezeSummary {
  /** The choice applied. */
  freeze: FreezeChoice;
  /** Layers with weights left trainable. */
  trainableLayers: number;
  /** Layers with weights frozen. */
  frozenLayers: number;
  /** Parameters trained. */
  trainableParams: number;
  /** Parameters frozen (including BatchNorm moving statistics, which never train). */
  frozenParams: number;
}

function valueCount(weights: tfl.LayerVariable[]): number {
  return weights.reduce((n, w) => n + tf.util.sizeFromShape(w.shape as number[]), 0);
}

/**
 * Freezes `model`'s layers up to (not including) the first layer to train: `none` trains every layer,
 * `backbone` only `predictions`, a layer name that layer and every later one (in the model's topological
 * order). Frozen BatchNorm layers run in inference mode even when the model is called with
 * `training: true`: they normalise with their moving statistics and do not update them. Safe to call again
 * (e.g. on a model loaded from a checkpoint).
 *
 * @returns counts of trained and frozen layers and parameters.
 * @throws {RangeError} naming the layer when it is not in the model, with the closest names.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const s = freezeLayers(model, "backbone");
 * assert.equal(s.trainableLayers, 1);
 * assert.equal(model.trainableWeights.length, 2);
 * model.dispose();
 * ```
 */
export function freezeLayers(model: tfl.LayersModel, freeze: FreezeChoice): FreezeSummary {
  const layers = model.layers;
  let first = 0;
  if (freeze === "backbone") {
    first = layers.findIndex((l) => l.name === HEAD_LAYER);
    if (first < 0) throw new RangeError(`freeze: the model has no "${HEAD_LAYER}" layer to train`);
  } else if (freeze !== "none") {
    first = layers.findIndex((l) => l.name === freeze);
    if (first < 0) {
      const shape = (n: string) => n.replace(/\d+/g, "#");
      const near = layers.map((l) => l.name).filter((n) => shape(n) === shape(freeze)).slice(0, 5);
      throw new RangeError(
        `freeze: no layer "${freeze}" in model "${model.name}"; expected none, backbone or a layer name${
          near.length ? ` such as ${near.join(", ")}` : " (e.g. conv5_block1_0_bn)"
        }`,
      );
    }
  }
  let trainableLayers = 0, frozenLayers = 0;
  layers.forEach((layer, i) => {
    const frozen = i < first;
    if (frozen && layer.getClassName() === "BatchNormalization" && !(layer instanceof BatchNormalization)) {
      throw new TypeError(
        `freeze: layer "${layer.name}" is tfjs-layers' own BatchNormalization, which keeps using batch ` +
          "statistics when frozen; build the model with createDenseNet (lib/model's BatchNormalization)",
      );
    }
    layer.trainable = !frozen; // lib/model's BatchNormalization then runs in inference mode
    if (layer.weights.length) frozen ? frozenLayers++ : trainableLayers++;
  });
  const trainableParams = valueCount(model.trainableWeights);
  return {
    freeze,
    trainableLayers,
    frozenLayers,
    trainableParams,
    frozenParams: valueCount(model.weights) - trainableParams,
  };
}
