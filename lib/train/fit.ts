/**
 * `train`: fits a DenseNet on the preprocessed cache with Adam, per-class-weighted binary cross-entropy,
 * gradient accumulation, ReduceLROnPlateau, early stopping, a checkpoint per epoch, `best/` and resume.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { copyFile, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { augment as imageAugment, openCache } from "../images/mod.ts";
import {
  createDenseNet,
  METADATA_JSON,
  MODEL_CARD_MD,
  MODEL_JSON,
  MODEL_ONNX,
  type PretrainedOptions,
  readBundleMetadata,
  replaceFolderAtomically,
  saveBundle,
  tf,
  tfl,
  WEIGHTS_BIN,
  type WeightsProvenance,
  writeBundleOnnx,
} from "../model/mod.ts";
import {
  checkInit,
  defaultInit,
  type FreezeChoice,
  freezeLayers,
  type FreezeSummary,
  type InitChoice,
  initializeWeights,
  seedKernels,
  weightsProvenance,
} from "./init.ts";
import { perClassAuroc } from "./auroc.ts";
import {
  checkpointName,
  findCheckpoint,
  findLatestCheckpoint,
  loadCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
} from "./checkpoint.ts";
import type { TrainConfig, TrainState } from "./checkpoint.ts";
import { CheckpointError } from "./checkpoint.ts";
import type { TrainEvent } from "./events.ts";
import { type EpochRecord, writeHistory } from "./history.ts";
import { type Augmenter, type CacheSource, loadBatches } from "./loader.ts";
import { binaryCrossEntropy, type ClassWeights, classWeights } from "./loss.ts";
import { kerasAdam } from "./optimizer.ts";
import { EarlyStopping, ReduceLrOnPlateau } from "./schedule.ts";
import { trainStep } from "./step.ts";
import { defaultWorkers, type GradientWorkers, startGradientWorkers } from "./parallel.ts";

/**
 * Architectures `train` builds.
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
  /** Augmentation of training images; `null` for none. @default {@linkcode defaultAugment} */
  augment?: Augmenter | null;
  /** Checkpoints kept (newest first). @default 3 */
  keepCheckpoints?: number;
  /** Starting weights: `imagenet` (Keras Applications' file; densenet121 only), `none` (random) or a Keras
   * HDF5 file. Ignored on resume, where the checkpoint's weights are used. @default {@linkcode defaultInit}(arch) */
  init?: InitChoice;
  /** Layers to keep fixed: `none`, `backbone` (train only `predictions`) or the first layer to train. @default "none" */
  freeze?: FreezeChoice;
  /** Where the ImageNet file comes from and where it is cached (base URL, cache folder, download progress);
   * unset ones come from the settings (`CXR_WEIGHTS_BASE_URL`, `CXR_WEIGHTS_CACHE`). */
  pretrained?: PretrainedOptions;
  /**
   * Threads computing gradients, this one included (data-parallel; lib/train/parallel.ts): the result is that of
   * one thread at the same batch and micro-batch. With more than one and no `microBatch`, the micro-batch is at
   * most the batch's share per thread. `auto`: {@linkcode defaultWorkers} for the backend and image size. @default 1
   */
  workers?: number | "auto";
  /** Called with progress events. */
  onProgress?: (event: TrainEvent) => void;
}

/** What {@linkcode train} returns (and `deno task cxr train --json` prints). */
export interface TrainSummary {
  /** The tfjs backend used. */
  backend: string;
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

/** What a checkpoint written before a setting existed is taken to have used. */
const CONFIG_DEFAULTS: Pick<TrainConfig, "init" | "freeze"> = { init: "none", freeze: "none" };

/**
 * Images per forward/backward pass that fit the backend: on wasm, whose heap stops at 4 GB, DenseNet-121
 * needs about 283 MB per image at 224 px during a training step (measured: 15 images fit, 16 abort), so 8 at
 * 224 and proportionally more or fewer at other sizes (8 · (224 / size)², at least 1); elsewhere the whole
 * batch.
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
export function defaultMicroBatch(backend: string, size: number, batchSize: number): number {
  if (backend !== "wasm") return batchSize;
  return Math.min(batchSize, Math.max(1, Math.floor(8 * (224 / size) ** 2)));
}

/**
 * The default training augmentation: lib/images' `augment` (flip p = 0.5, rotation ±15°, scale 0.8–1.1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seededRandom } from "./loader.ts";
 * const img = new Uint8Array(16).fill(7);
 * assert.equal(defaultAugment(img, 4, seededRandom(1)).length, 16);
 * ```
 */
export function defaultAugment(image: Uint8Array, size: number, rng: () => number): Uint8Array {
  return imageAugment(image, size, rng);
}

/**
 * Builds the named architecture for `size`×`size` grey input: `tiny` is a DenseNet of two dense blocks of two
 * layers with growth rate 8; `densenet121` is CheXNet's.
 *
 * @throws {TypeError} for an unknown name.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const model = buildModel("tiny", 32);
 * assert.deepEqual(model.outputs[0].shape, [null, 14]);
 * model.dispose();
 * ```
 */
export function buildModel(arch: Architecture, size: number): tfl.LayersModel {
  if (arch === "tiny") {
    return createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: size, name: "tiny" });
  }
  if (arch === "densenet121") return createDenseNet({ inputSize: size, name: "densenet121" });
  throw new TypeError(
    `buildModel: unknown architecture "${arch}"; expected one of ${ARCHITECTURES.join(", ")}`,
  );
}

function _positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new RangeError(`train: ${name} must be a positive integer, got ${v}`);
  }
  return v;
}

/** Mean loss and scores of `model` over a partition, in micro-batches. */
async function _validate(
  model: tfl.LayersModel,
  cache: CacheSource,
  batchSize: number,
  weights: ClassWeights | undefined,
): Promise<{ loss: number; scores: Float32Array }> {
  const scores = new Float32Array(cache.count * cache.classes.length);
  let lossSum = 0, offset = 0;
  for await (const b of loadBatches(cache, { batchSize })) {
    const p = tf.tidy(() => model.predict(b.x) as tf.Tensor2D);
    const loss = binaryCrossEntropy(b.y, p, weights);
    scores.set(await p.data(), offset);
    offset += p.size;
    lossSum += (await loss.data())[0] * b.indices.length;
    tf.dispose([p, loss, b.x, b.y]);
  }
  return { loss: lossSum / Math.max(1, cache.count), scores };
}

/**
 * Makes `best/` the model of the best epoch again when a kill left it out of step with the checkpoint resumed
 * from (it is written before the checkpoint of its epoch); the best epoch's checkpoint is never pruned.
 */
async function _restoreBest(bestDir: string, checkpoint: string | null, epoch: number): Promise<void> {
  let current: number | undefined;
  try {
    current = (await readBundleMetadata(bestDir)).metrics.epoch;
  } catch {
    current = undefined;
  }
  if (current === epoch || checkpoint === null) return;
  await replaceFolderAtomically(bestDir, async (tmp) => {
    for (const f of [MODEL_JSON, WEIGHTS_BIN, METADATA_JSON, MODEL_CARD_MD]) {
      if (f === MODEL_CARD_MD && !existsSync(join(checkpoint, f))) continue; // checkpoints from before cards
      await copyFile(join(checkpoint, f), join(tmp, f));
    }
  });
}

/**
 * Trains a DenseNet on `<cacheDir>/train` with `<cacheDir>/val` for validation, writing into `outDir`:
 * `checkpoints/epoch-NNN-val-L/` every epoch, `best/` (the bundle with the lowest validation loss),
 * `history.jsonl`. With `resume` (the default) a run that finds checkpoints continues after the newest.
 * Call `selectBackend()` first.
 *
 * @param cacheDir the preprocessed cache (`cxr-cache/1`).
 * @param outDir the output folder.
 * @param options epochs, batch, learning rate, architecture, loss weighting, patience, progress.
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
  const epochs = _positiveInt("epochs", options.epochs ?? 10);
  const batchSize = _positiveInt("batchSize", options.batchSize ?? 16);
  const lr0 = options.lr ?? 1e-3;
  if (!(lr0 > 0)) throw new RangeError(`train: lr must be positive, got ${lr0}`);
  const arch = options.arch ?? "densenet121";
  if (!ARCHITECTURES.includes(arch)) {
    throw new TypeError(`train: unknown arch "${arch}"; expected one of ${ARCHITECTURES.join(", ")}`);
  }
  const patience = _positiveInt("patience", options.patience ?? 10);
  const keep = _positiveInt("keepCheckpoints", options.keepCheckpoints ?? 3);
  const seed = options.seed ?? 0;
  const augment = options.augment === undefined ? defaultAugment : options.augment ?? undefined;
  const init = options.init ?? defaultInit(arch);
  checkInit(arch, init);
  const freeze = options.freeze ?? "none";
  const emit = options.onProgress ?? (() => {});
  const backend = tf.getBackend();

  using trainCache = openCache(cacheDir, "train");
  using valCache = openCache(cacheDir, "val");
  const size = trainCache.size;
  if (valCache.size !== size) {
    throw new RangeError(`train: train images are ${size}², val images ${valCache.size}² in "${cacheDir}"`);
  }
  if (trainCache.count === 0 || valCache.count === 0) {
    throw new RangeError(
      `train: "${cacheDir}" has ${trainCache.count} train and ${valCache.count} val images`,
    );
  }
  const workerCount = options.workers === "auto"
    ? defaultWorkers(backend, size)
    : _positiveInt("workers", options.workers ?? 1);
  const microBatch = Math.min(
    batchSize,
    _positiveInt(
      "microBatch",
      options.microBatch ??
        Math.min(defaultMicroBatch(backend, size, batchSize), Math.ceil(batchSize / workerCount)),
    ),
  );
  const config: TrainConfig = {
    arch,
    size,
    batchSize,
    weightedLoss: options.weightedLoss ?? false,
    seed,
    init,
    freeze,
  };
  const weights = config.weightedLoss
    ? classWeights(trainCache.labels, trainCache.classes.length)
    : undefined;
  const checkpoints = join(outDir, "checkpoints");
  const historyFile = join(outDir, "history.jsonl");
  const bestDir = join(outDir, "best");
  await mkdir(outDir, { recursive: true });

  // Fresh start, or the newest checkpoint.
  let model: tfl.LayersModel;
  let state: TrainState;
  let optimizerWeights: { name: string; tensor: tf.Tensor }[] = [];
  let provenance: WeightsProvenance;
  // Starting afresh clears old checkpoints, or a later resume would pick up their higher epochs.
  if (options.resume === false) await rm(checkpoints, { recursive: true, force: true });
  const latest = options.resume === false ? null : await findLatestCheckpoint(checkpoints);
  if (latest) {
    const ckpt = await loadCheckpoint(latest);
    // Checkpoints from before --init/--freeze existed started from random weights and trained everything.
    const before = { ...CONFIG_DEFAULTS, ...ckpt.state.config };
    const differs = (Object.keys(config) as (keyof TrainConfig)[]).filter((k) => before[k] !== config[k]);
    if (differs.length) {
      ckpt.model.dispose();
      tf.dispose(ckpt.optimizerWeights.map((w) => w.tensor));
      throw new CheckpointError(
        `Cannot resume from "${latest}": it was trained with other settings (${
          differs.map((k) => `${k}: ${before[k]} there, ${config[k]} now`).join("; ")
        }); pass --no-resume or another --out`,
        latest,
      );
    }
    model = ckpt.model;
    state = { ...ckpt.state, config: before };
    provenance = state.weights ?? { init: "none", freeze };
    optimizerWeights = ckpt.optimizerWeights;
    await writeHistory(historyFile, state.history);
    if (state.best) {
      await _restoreBest(bestDir, await findCheckpoint(checkpoints, state.best.epoch), state.best.epoch);
    }
  } else {
    model = buildModel(arch, size);
    seedKernels(model, seed); // reproducible from the seed; a weights file then overwrites what it has
    try {
      const initSummary = await initializeWeights(model, init, { arch, pretrained: options.pretrained });
      emit({ type: "init", init: initSummary });
      provenance = weightsProvenance(initSummary, freeze);
    } catch (e) {
      model.dispose();
      throw e;
    }
    state = {
      format: "cxr-train-state/1",
      epoch: 0,
      config,
      plateau: new ReduceLrOnPlateau(lr0).state,
      early: new EarlyStopping(patience).state,
      best: null,
      stopped: false,
      history: [],
      weights: provenance,
    };
  }
  let frozen: FreezeSummary;
  try {
    frozen = freezeLayers(model, freeze);
  } catch (e) {
    model.dispose();
    throw e;
  }
  let workers: GradientWorkers | undefined;
  if (workerCount > 1) {
    try {
      workers = await startGradientWorkers(model, { workers: workerCount });
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  // Created only now: Adam allocates variables, which an early throw above would leak.
  const optimizer = kerasAdam(lr0);
  if (optimizerWeights.length) {
    await optimizer.setWeights(optimizerWeights);
    tf.dispose(optimizerWeights.map((w) => w.tensor));
  }
  const plateau = new ReduceLrOnPlateau(lr0, {}, state.plateau);
  const early = new EarlyStopping(patience, state.early);
  emit({
    type: "start",
    backend,
    epochs,
    startEpoch: state.epoch + 1,
    resumedFrom: latest,
    train: trainCache.count,
    val: valCache.count,
    batchSize,
    microBatch,
    workers: workerCount,
    history: [...state.history],
    weights: provenance,
    freeze: frozen,
  });

  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const classes = trainCache.classes;
  const bundleOptions = (epoch: number, record: EpochRecord) => ({
    classNames: classes,
    splitDigest: trainCache.splitDigest,
    architecture: { name: arch, inputSize: size },
    modelVersion: `${arch}-${checkpointName(epoch, record.val_loss)}`,
    weights: provenance,
    training: {
      source: "NIH ChestX-ray14",
      ...(trainCache.splitMethod ? { splitMethod: trainCache.splitMethod } : {}),
      images: { train: trainCache.count, val: valCache.count },
      epochs: epoch,
      batchSize,
      microBatch,
      backend,
      // Epochs before a resume included; the current record may or may not be in the history yet.
      seconds: [...state.history.filter((h) => h.epoch < epoch), record].reduce((t, h) => t + h.seconds, 0),
      lr: lr0,
      seed,
      weightedLoss: config.weightedLoss,
    },
    metrics: {
      epoch,
      val_loss: record.val_loss,
      ...(record.mean_auroc === null ? {} : { mean_auroc: record.mean_auroc }),
      ...Object.fromEntries(
        Object.entries(record.val_auroc).filter(([, v]) => v !== null).map(([k, v]) => [`auroc/${k}`, v!]),
      ),
    },
  });

  try {
    while (!state.stopped && state.epoch < epochs) {
      const epoch = state.epoch + 1;
      const started = performance.now();
      // Adam reads its (protected) learningRate on every step.
      (optimizer as unknown as { learningRate: number }).learningRate = state.plateau.lr;
      let lossSum = 0, seen = 0, step = 0;
      const steps = Math.ceil(trainCache.count / batchSize);
      for await (const b of loadBatches(trainCache, { batchSize, shuffle: true, seed, epoch, augment })) {
        const n = b.indices.length;
        const stepLoss = await trainStep(model, optimizer, b.x, b.y, {
          microBatch,
          weights,
          variables: vars,
          workers,
        });
        tf.dispose([b.x, b.y]);
        lossSum += stepLoss * n;
        seen += n;
        emit({
          type: "batch",
          epoch,
          epochs,
          batch: ++step,
          batches: steps,
          loss: lossSum / seen,
          "images/s": seen / Math.max((performance.now() - started) / 1000, 1e-9),
        });
      }
      const trainSeconds = (performance.now() - started) / 1000;
      const val = await _validate(
        model,
        valCache,
        microBatch < batchSize ? microBatch : Math.min(batchSize, 32),
        weights,
      );
      const auroc = perClassAuroc(val.scores, valCache.labels, classes);
      const record: EpochRecord = {
        epoch,
        loss: lossSum / Math.max(1, seen),
        val_loss: val.loss,
        val_auroc: auroc.perClass,
        mean_auroc: auroc.mean,
        lr: state.plateau.lr,
        seconds: (performance.now() - started) / 1000,
        "images/s": seen / Math.max(trainSeconds, 1e-9),
      };
      const isBest = state.best === null || record.val_loss < state.best.val_loss;
      if (isBest) {
        state.best = { epoch, val_loss: record.val_loss, mean_auroc: record.mean_auroc };
        await saveBundle(model, bestDir, bundleOptions(epoch, record));
        await writeBundleOnnx(bestDir, { model }); // ~0.3 s for DenseNet-121: best/ serves on ONNX Runtime
      }
      plateau.step(record.val_loss);
      state = {
        ...state,
        epoch,
        plateau: plateau.state,
        stopped: early.step(record.val_loss),
        early: early.state,
        history: [...state.history, record],
      };
      const checkpoint = await saveCheckpoint(
        checkpoints,
        model,
        optimizer,
        state,
        bundleOptions(epoch, record),
      );
      await writeHistory(historyFile, state.history);
      await pruneCheckpoints(checkpoints, keep, { spare: state.best ? [state.best.epoch] : [] });
      emit({ type: "epoch", record, checkpoint, best: isBest });
      if (state.stopped) {
        emit({
          type: "stop",
          reason:
            `Stopped early after epoch ${epoch}: validation loss did not improve for ${patience} epochs`,
        });
      }
    }
  } finally {
    workers?.close();
    model.dispose();
    optimizer.dispose();
  }
  // A best/ restored from a checkpoint on resume has no model.onnx yet.
  if (state.best && !existsSync(join(bestDir, MODEL_ONNX))) await writeBundleOnnx(bestDir);
  return {
    backend,
    epochs: state.epoch,
    best: state.best!,
    bundle: bestDir,
    history: historyFile,
    resumedFrom: latest,
    stoppedEarly: state.stopped,
    weights: provenance,
    freeze: frozen,
  };
}
