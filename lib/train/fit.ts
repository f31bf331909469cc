/**
 * `train`: fits a DenseNet on the preprocessed cache with Adam, per-class-weighted binary cross-entropy,
 * gradient accumulation, ReduceLROnPlateau, early stopping, a checkpoint per epoch, `best/` and resume.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { totalmem } from "node:os";
import { join } from "node:path";
import { augment as imageAugment, type ImageCache, openCache } from "../images/mod.ts";
import {
  createDenseNet,
  MODEL_ONNX,
  type PretrainedOptions,
  tf,
  tfl,
  type WeightsProvenance,
  writeBundleOnnx,
} from "../model/mod.ts";
import { type FitRun, runEpoch } from "./_fit_epoch.ts";
import { freshStart, prepareFit, resumeFrom } from "./_fit_start.ts";
import { findLatestCheckpoint } from "./checkpoint.ts";
import { checkInit, defaultInit, type FreezeChoice, type FreezeSummary, type InitChoice } from "./init.ts";
import type { TrainEvent } from "./events.ts";
import type { Augmenter } from "./loader.ts";
import { classWeights } from "./loss.ts";
import { defaultWorkers } from "./parallel.ts";

/**
 * Architectures `train` builds: `densenet121` (CheXNet's) and `tiny` (a DenseNet of two dense blocks of two
 * layers with growth rate 8, for demos and tests).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(ARCHITECTURES, ["densenet121", "tiny"]);
 * ```
 */
export const ARCHITECTURES = ["densenet121", "tiny"] as const;
/** One architecture name. */
export type Architecture = typeof ARCHITECTURES[number];

/**
 * What computes the training gradients: `onnx` runs the step's forward and backward passes on ONNX Runtime
 * (lib/train/onnx_gradients.ts; the optimizer, checkpoints and validation stay on tfjs), `tfjs` on the tfjs
 * backend, `auto` picks `onnx` on the CPU backends (wasm, cpu), where it trains several times faster
 * (bench/model_throughput.ts), and `tfjs` on the others (tensorflow, webgpu).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(TRAIN_ENGINES, ["auto", "onnx", "tfjs"]);
 * ```
 */
export const TRAIN_ENGINES = ["auto", "onnx", "tfjs"] as const;
/** One engine choice. */
export type TrainEngine = typeof TRAIN_ENGINES[number];

/** Options of {@linkcode train}. */
export interface TrainOptions {
  /** Epochs in all (a resumed run continues up to this number). @default 10 */
  epochs?: number;
  /** Images per optimizer step. @default 16 */
  batchSize?: number;
  /** Images per forward/backward pass; gradients accumulate up to `batchSize`. @default {@linkcode defaultMicroBatch} */
  microBatch?: number;
  /** Adam's initial learning rate. @default 1e-3 */
  lr?: number;
  /** `densenet121` (CheXNet) or `tiny` (two small dense blocks, for demos and tests). @default "densenet121" */
  arch?: Architecture;
  /** Seed of shuffling and augmentation. @default 0 */
  seed?: number;
  /** Weight the loss per class by label frequency (CheXNet). @default false */
  weightedLoss?: boolean;
  /** Epochs without validation-loss improvement before stopping. @default 10 */
  patience?: number;
  /** Continue from the newest checkpoint in `<out>/checkpoints` if there is one; `false` deletes them. @default true */
  resume?: boolean;
  /** Augmentation of training images; `null` for none. @default lib/images' `augment` */
  augment?: Augmenter | null;
  /** Checkpoints kept (newest first). @default 3 */
  keepCheckpoints?: number;
  /** Starting weights: `imagenet` (Keras Applications' file; densenet121 only), `none` (random) or a Keras
   * HDF5 file. Ignored on resume, where the checkpoint's weights are used. @default {@linkcode defaultInit}(arch) */
  init?: InitChoice;
  /** Layers to keep fixed: `none`, `backbone` (train only `predictions`) or the first layer to train. @default "none" */
  freeze?: FreezeChoice;
  /** Download settings of the ImageNet file; unset ones come from the settings (see `InitOptions.pretrained`). */
  pretrained?: PretrainedOptions;
  /**
   * Threads computing gradients, this one included (data-parallel; lib/train/parallel.ts): the result is that of
   * one thread at the same batch and micro-batch. With more than one and no `microBatch`, the micro-batch is at
   * most the batch's share per thread. `auto`: {@linkcode defaultWorkers} for the backend and image size. @default 1
   */
  workers?: number | "auto";
  /**
   * What computes the gradients ({@linkcode TRAIN_ENGINES}). On `onnx`, `workers` are data-parallel ONNX
   * Runtime sessions, each on cores / workers threads (default and `auto`: {@linkcode defaultOnnxWorkers}).
   * @default "auto"
   */
  engine?: TrainEngine;
  /**
   * NVIDIA GPUs to train on (the onnx engine on ONNX Runtime's cuda provider): one data-parallel worker per
   * GPU, each taking its share of a step's micro-batches. Needs onnxruntime-node's CUDA provider library.
   */
  gpus?: number[];
  /** Called with progress events. */
  onProgress?: (event: TrainEvent) => void;
}

/** What {@linkcode train} returns (and `deno task cxr train --json` prints). */
export interface TrainSummary {
  /** The tfjs backend used. */
  backend: string;
  /** What computed the gradients. */
  engine: "onnx" | "tfjs";
  /** Threads computing gradients (data-parallel workers, this one included). */
  workers: number;
  /** ONNX Runtime's threads per worker (onnx engine; 1 on tfjs). */
  threads: number;
  /** The GPUs trained on (onnx engine on cuda), else empty. */
  devices: number[];
  /** Epochs completed in all (including those before a resume). */
  epochs: number;
  /** The best epoch by validation loss. */
  best: { epoch: number; val_loss: number; mean_auroc: number | null };
  /** The best model's bundle folder, `<out>/best`. */
  bundle: string;
  /** `<out>/history.jsonl`. */
  history: string;
  /** The checkpoint this run resumed from, or `null`. */
  resumedFrom: string | null;
  /** Whether early stopping ended training. */
  stoppedEarly: boolean;
  /** Where the starting weights came from and what was frozen (as recorded in the bundle). */
  weights: WeightsProvenance;
  /** Layers and parameters trained and frozen. */
  freeze: FreezeSummary;
}

/**
 * Images per forward/backward pass that fit: on wasm, whose heap stops at 4 GB, DenseNet-121 needs about
 * 283 MB per image at 224 px during a training step (measured: 15 images fit, 16 abort), so 8 at 224 and
 * proportionally more or fewer at other sizes (8 · (224 / size)², at least 1), as on the onnx engine;
 * elsewhere the whole batch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(defaultMicroBatch("wasm", 224, 16), 8);
 * assert.equal(defaultMicroBatch("wasm", 320, 16), 3);
 * assert.equal(defaultMicroBatch("wasm", 64, 16), 16);
 * assert.equal(defaultMicroBatch("cpu", 224, 16), 16);
 * ```
 */
export function defaultMicroBatch(
  backend: string,
  size: number,
  batchSize: number,
  engine: "onnx" | "tfjs" = "tfjs",
): number {
  if (backend !== "wasm" && engine !== "onnx") return batchSize;
  return Math.min(batchSize, Math.max(1, Math.floor(8 * (224 / size) ** 2)));
}

/**
 * Trains a DenseNet on `<cacheDir>/train` with `<cacheDir>/val` for validation, writing into `outDir`:
 * `checkpoints/epoch-NNN-val-L/` every epoch, `best/` (the bundle with the lowest validation loss),
 * `history.jsonl`. With `resume` (the default) a run that finds checkpoints continues after the newest.
 * Call `selectBackend()` first.
 *
 * @param cacheDir the preprocessed cache (`cxr-cache/1`).
 * @param outDir the output folder.
 * @returns where the best model is, and its scores.
 * @throws {RangeError} for bad sizes; {@linkcode CheckpointError} when a checkpoint was made with other settings.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { synthesize, officialSplit, readEntries, readSplitList } from "../nih/mod.ts";
 * import { preprocess } from "../images/mod.ts";
 * import { selectBackend } from "../model/mod.ts";
 * const dir = Deno.makeTempDirSync();
 * await synthesize(`${dir}/nih`, { images: 24, size: 16 });
 * const { split } = officialSplit(readEntries(`${dir}/nih/Data_Entry_2017.csv`),
 *   readSplitList(`${dir}/nih/train_val_list.txt`), readSplitList(`${dir}/nih/test_list.txt`), { valFraction: 0.3 });
 * await preprocess(`${dir}/nih`, `${dir}/cache`, { split, size: 16, partitions: ["train", "val"] });
 * await selectBackend("wasm");
 * const summary = await train(`${dir}/cache`, `${dir}/run`, { arch: "tiny", epochs: 1, batchSize: 4 });
 * assert.equal(summary.bundle, `${dir}/run/best`);
 * assert.equal(summary.best.epoch, 1);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function train(
  cacheDir: string,
  outDir: string,
  options: TrainOptions = {},
): Promise<TrainSummary> {
  const checked = checkTrainOptions(options);
  const backend = tf.getBackend();
  using trainCache = openCache(cacheDir, "train");
  using valCache = openCache(cacheDir, "val");
  const run = planRun(cacheDir, outDir, options, { ...checked, backend, trainCache, valCache });
  await mkdir(outDir, { recursive: true });
  const resume = options.resume !== false;
  // Without resume the checkpoints go: a later resume would otherwise pick up their higher epochs.
  if (!resume) await rm(run.checkpoints, { recursive: true, force: true });
  const latest = resume ? await findLatestCheckpoint(run.checkpoints) : null;
  const start = latest
    ? await resumeFrom(run, latest)
    : await freshStart(run, buildModel(checked.arch, run.config.size));
  const { fit, frozen } = await prepareFit(run, start);
  let state = start.state;
  const gradients = { engine: run.engine, workers: run.workers, threads: run.threads, devices: run.devices };
  run.emit({
    type: "start",
    backend,
    epochs: run.epochs,
    startEpoch: state.epoch + 1,
    resumedFrom: latest,
    train: trainCache.count,
    val: valCache.count,
    batchSize: run.batchSize,
    microBatch: run.microBatch,
    ...gradients,
    history: [...state.history],
    weights: fit.provenance,
    freeze: frozen,
  });
  try {
    while (!state.stopped && state.epoch < run.epochs) state = await runEpoch(run, fit, state);
  } finally {
    fit.workers?.close();
    fit.model.dispose();
    fit.optimizer.dispose();
  }
  // A best/ restored from a checkpoint on resume has no model.onnx yet.
  if (state.best && !existsSync(join(run.bestDir, MODEL_ONNX))) await writeBundleOnnx(run.bestDir);
  return {
    backend,
    ...gradients,
    epochs: state.epoch,
    best: state.best!,
    bundle: run.bestDir,
    history: run.historyFile,
    resumedFrom: latest,
    stoppedEarly: state.stopped,
    weights: fit.provenance,
    freeze: frozen,
  };
}

/** ONNX Runtime's memory per image of a DenseNet-121 training step at 224 px (measured: 3.6 GB at micro-batch 8). */
const ONNX_BYTES_PER_IMAGE = 450e6;

/**
 * The data-parallel workers `train` starts on the onnx engine by default: one per core, each an ONNX Runtime
 * session on one thread (measured on 2 cores, DenseNet-121 at 224, batch 8: two 1-thread sessions 3.3 img/s
 * each, one 2-thread session 4.2-4.6 img/s), but no more than half the memory holds at about 450 MB per image
 * of a micro-batch at 224 px (scaled by the area) plus 300 MB each; below 128 px one session on every core.
 *
 * @param size image side.
 * @param microBatch images per pass.
 * @param cores CPU cores. @default navigator.hardwareConcurrency
 * @param memory bytes of memory. @default os.totalmem()
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(defaultOnnxWorkers(224, 8, 2, 24e9), 2);
 * assert.equal(defaultOnnxWorkers(224, 8, 16, 24e9), 3); // 3.9 GB each, 12 GB in all
 * assert.equal(defaultOnnxWorkers(224, 8, 16, 4e9), 1);
 * assert.equal(defaultOnnxWorkers(64, 8, 16, 24e9), 1);
 * ```
 */
export function defaultOnnxWorkers(
  size: number,
  microBatch: number,
  cores: number = navigator.hardwareConcurrency || 1,
  memory: number = totalmem(),
): number {
  // The demo's 64 px tiny DenseNet: 2.2 s on two workers, 1.8 s on one session of two threads.
  if (size < 128) return 1;
  const perWorker = 300e6 + ONNX_BYTES_PER_IMAGE * microBatch * (size / 224) ** 2;
  return Math.max(1, Math.min(cores, Math.floor(memory / 2 / perWorker)));
}

/** What computes the gradients, on how many workers and threads each, and the micro-batch. */
function planGradients(
  options: TrainOptions,
  backend: string,
  size: number,
  batchSize: number,
): Pick<FitRun, "engine" | "workers" | "threads" | "provider" | "devices" | "microBatch"> {
  const choice = options.engine ?? "auto";
  if (!TRAIN_ENGINES.includes(choice)) {
    throw new TypeError(`train: unknown engine "${choice}"; expected one of ${TRAIN_ENGINES.join(", ")}`);
  }
  const cores = Math.max(1, navigator.hardwareConcurrency || 1);
  const gpus = options.gpus;
  if (gpus !== undefined) {
    if (
      gpus.length === 0 || gpus.some((g) => !Number.isInteger(g) || g < 0) || new Set(gpus).size < gpus.length
    ) {
      throw new RangeError(`train: gpus must list distinct GPU indices >= 0, got [${gpus}]`);
    }
    if (choice === "tfjs") {
      throw new TypeError(
        "train: gpus runs the onnx engine (ONNX Runtime's cuda provider); drop engine tfjs",
      );
    }
  }
  const cpuBackend = backend === "wasm" || backend === "cpu";
  const engine = gpus || choice === "onnx" || (choice === "auto" && cpuBackend) ? "onnx" : "tfjs";
  const micro = defaultMicroBatch(backend, size, batchSize, engine);
  let workers: number;
  if (gpus) workers = gpus.length;
  else if (engine === "tfjs") {
    workers = options.workers === "auto"
      ? defaultWorkers(backend, size)
      : positiveInt("workers", options.workers ?? 1);
  } else {
    workers = options.workers === "auto" || options.workers === undefined
      ? defaultOnnxWorkers(size, micro, cores)
      : positiveInt("workers", options.workers);
  }
  // Without a micro-batch given, each thread gets at least one micro-batch of the step.
  const microBatch = options.microBatch ?? Math.min(micro, Math.ceil(batchSize / workers));
  return {
    engine,
    workers,
    threads: engine === "tfjs" ? 1 : Math.max(1, Math.floor(cores / workers)),
    provider: gpus ? "cuda" : "cpu",
    devices: gpus ?? [],
    microBatch: Math.min(batchSize, positiveInt("microBatch", microBatch)),
  };
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`train: ${name} must be a positive integer, got ${v}`);
  }
  return v;
}

/** The options that do not depend on the cache, checked (before the cache is opened), defaults filled in. */
function checkTrainOptions(options: TrainOptions) {
  const epochs = positiveInt("epochs", options.epochs ?? 10);
  const batchSize = positiveInt("batchSize", options.batchSize ?? 16);
  const lr0 = options.lr ?? 1e-3;
  if (!(lr0 > 0)) throw new RangeError(`train: lr must be positive, got ${lr0}`);
  const arch = options.arch ?? "densenet121";
  if (!ARCHITECTURES.includes(arch)) {
    throw new TypeError(`train: unknown arch "${arch}"; expected one of ${ARCHITECTURES.join(", ")}`);
  }
  const patience = positiveInt("patience", options.patience ?? 10);
  const keep = positiveInt("keepCheckpoints", options.keepCheckpoints ?? 3);
  const seed = options.seed ?? 0;
  const augment = options.augment === undefined ? imageAugment : options.augment ?? undefined;
  const init = options.init ?? defaultInit(arch);
  checkInit(arch, init);
  const freeze = options.freeze ?? "none";
  const emit = options.onProgress ?? (() => {});
  return { epochs, batchSize, lr0, arch, patience, keep, seed, augment, init, freeze, emit };
}

/** A fresh model of `arch` for `size`×`size` grey input. */
function buildModel(arch: Architecture, size: number): tfl.LayersModel {
  const tiny = arch === "tiny" ? { blocks: [2, 2], growthRate: 8 } : {};
  return createDenseNet({ ...tiny, inputSize: size, name: arch });
}

/** The run: the checked options with the caches checked against each other, threads, micro-batch, paths. */
function planRun(
  cacheDir: string,
  outDir: string,
  options: TrainOptions,
  checked: ReturnType<typeof checkTrainOptions> & {
    backend: string;
    trainCache: ImageCache;
    valCache: ImageCache;
  },
): FitRun {
  const { trainCache, valCache, backend, batchSize } = checked;
  const size = trainCache.size;
  if (valCache.size !== size) {
    throw new RangeError(`train: train images are ${size}², val images ${valCache.size}² in "${cacheDir}"`);
  }
  if (trainCache.count === 0 || valCache.count === 0) {
    throw new RangeError(
      `train: "${cacheDir}" has ${trainCache.count} train and ${valCache.count} val images`,
    );
  }
  const gradients = planGradients(options, backend, size, batchSize);
  const { arch, seed, init, freeze } = checked;
  const weightedLoss = options.weightedLoss ?? false;
  return {
    ...checked,
    ...gradients,
    pretrained: options.pretrained,
    config: { arch, size, batchSize, weightedLoss, seed, init, freeze },
    weights: weightedLoss ? classWeights(trainCache.labels, trainCache.classes.length) : undefined,
    checkpoints: join(outDir, "checkpoints"),
    historyFile: join(outDir, "history.jsonl"),
    bestDir: join(outDir, "best"),
  };
}
