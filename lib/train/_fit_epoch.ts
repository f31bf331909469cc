// One epoch of `train` (lib/train/fit.ts): the training batches, validation, `best/` when the validation loss
// improved, the schedules' step, a checkpoint, the history and the pruning of old checkpoints.
import type { ImageCache } from "../images/mod.ts";
import {
  type PretrainedOptions,
  saveBundle,
  type SaveBundleOptions,
  tf,
  tfl,
  type WeightsProvenance,
  writeBundleOnnx,
} from "../model/mod.ts";
import { perClassAuroc } from "../auroc.ts";
import {
  checkpointName,
  pruneCheckpoints,
  saveCheckpoint,
  type TrainConfig,
  type TrainState,
} from "./checkpoint.ts";
import type { EpochRecord, TrainEvent } from "./events.ts";
import type { FreezeChoice, InitChoice } from "./init.ts";
import { writeHistory } from "./history.ts";
import { type Augmenter, loadBatches } from "./loader.ts";
import { binaryCrossEntropy, type ClassWeights } from "./loss.ts";
import type { KerasAdamOptimizer } from "./optimizer.ts";
import type { EarlyStopping, ReduceLrOnPlateau } from "./schedule.ts";
import { type GradientWorkers, trainStep } from "./step.ts";

/** A run's checked settings, its caches and where it writes. */
export interface FitRun {
  epochs: number;
  batchSize: number;
  microBatch: number;
  /**
   * What computes the gradients (`TrainOptions.engine` resolved for the backend), on how many data-parallel
   * workers (this thread included) of how many ONNX Runtime threads each (1 on tfjs), on which provider and,
   * on `cuda`, on which GPU each (this thread's first; else empty).
   */
  engine: "onnx" | "tfjs";
  workers: number;
  threads: number;
  provider: "cpu" | "cuda";
  devices: number[];
  lr0: number;
  patience: number;
  keep: number;
  seed: number;
  augment: Augmenter | undefined;
  init: InitChoice;
  freeze: FreezeChoice;
  pretrained: PretrainedOptions | undefined;
  backend: string;
  /** What a checkpoint records and a resume must match. */
  config: TrainConfig;
  /** Per-class loss weights, with `weightedLoss`. */
  weights: ClassWeights | undefined;
  trainCache: ImageCache;
  valCache: ImageCache;
  checkpoints: string;
  historyFile: string;
  bestDir: string;
  emit: (event: TrainEvent) => void;
}

/** The model being trained and what trains it. */
export interface Fit {
  model: tfl.LayersModel;
  optimizer: KerasAdamOptimizer;
  /** The model's trainable variables. */
  variables: tf.Variable[];
  workers: GradientWorkers | undefined;
  plateau: ReduceLrOnPlateau;
  early: EarlyStopping;
  /** Where the starting weights came from. */
  provenance: WeightsProvenance;
}

/** Trains and validates the epoch after `state.epoch`, saves what it made; returns the state after it. */
export async function runEpoch(run: FitRun, fit: Fit, state: TrainState): Promise<TrainState> {
  const epoch = state.epoch + 1;
  const started = performance.now();
  // Adam reads its (protected) learningRate on every step.
  (fit.optimizer as unknown as { learningRate: number }).learningRate = state.plateau.lr;
  const { lossSum, seen } = await trainBatches(run, fit, epoch, started);
  const trainSeconds = (performance.now() - started) / 1000;
  const val = await validate(run, fit.model);
  const auroc = perClassAuroc(val.scores, run.valCache.labels, run.trainCache.classes);
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
  return await saveEpoch(run, fit, state, record);
}

/** One pass over the shuffled, augmented training images, a progress event per optimizer step. */
async function trainBatches(
  run: FitRun,
  fit: Fit,
  epoch: number,
  started: number,
): Promise<{ lossSum: number; seen: number }> {
  const { trainCache, batchSize, seed, augment } = run;
  let lossSum = 0, seen = 0, step = 0;
  const steps = Math.ceil(trainCache.count / batchSize);
  for await (const b of loadBatches(trainCache, { batchSize, shuffle: true, seed, epoch, augment })) {
    const n = b.indices.length;
    const stepLoss = await trainStep(fit.model, fit.optimizer, b.x, b.y, {
      microBatch: run.microBatch,
      weights: run.weights,
      variables: fit.variables,
      workers: fit.workers,
    });
    tf.dispose([b.x, b.y]);
    lossSum += stepLoss * n;
    seen += n;
    run.emit({
      type: "batch",
      epoch,
      epochs: run.epochs,
      batch: ++step,
      batches: steps,
      loss: lossSum / seen,
      "images/s": seen / Math.max((performance.now() - started) / 1000, 1e-9),
    });
  }
  return { lossSum, seen };
}

/**
 * Mean loss and scores of `model` over the validation images, in micro-batches (when training uses them, else
 * up to 32 images); on the onnx engine on ONNX Runtime, with all the engine's threads.
 */
async function validate(
  run: FitRun,
  model: tfl.LayersModel,
): Promise<{ loss: number; scores: Float32Array }> {
  const { valCache: cache, microBatch, batchSize } = run;
  const scores = new Float32Array(cache.count * cache.classes.length);
  let lossSum = 0, offset = 0;
  using forward = run.engine === "onnx"
    ? await (await import("./onnx_gradients.ts")).openOnnxForward(model, run.workers * run.threads)
    : undefined;
  const size = microBatch < batchSize ? microBatch : Math.min(batchSize, 32);
  for await (const b of loadBatches(cache, { batchSize: size })) {
    const p = forward
      ? tf.tensor2d(await forward.predict(b.x), b.y.shape as [number, number])
      : tf.tidy(() => model.predict(b.x) as tf.Tensor2D);
    const loss = binaryCrossEntropy(b.y, p, run.weights);
    scores.set(await p.data(), offset);
    offset += p.size;
    lossSum += ((await loss.data())[0] ?? NaN) * b.indices.length;
    tf.dispose([p, loss, b.x, b.y]);
  }
  return { loss: lossSum / Math.max(1, cache.count), scores };
}

/**
 * After an epoch's `record`: `best/` if it is the best so far, the schedules' step, a checkpoint, the history,
 * old checkpoints pruned (never the best's), the `epoch` event and, when early stopping ends the run, `stop`.
 */
async function saveEpoch(run: FitRun, fit: Fit, state: TrainState, record: EpochRecord): Promise<TrainState> {
  const { epoch } = record;
  const isBest = state.best === null || record.val_loss < state.best.val_loss;
  const metadata = bundleOptions(run, fit, state.history, record);
  if (isBest) {
    state.best = { epoch, val_loss: record.val_loss, mean_auroc: record.mean_auroc };
    await saveBundle(fit.model, run.bestDir, metadata);
    await writeBundleOnnx(run.bestDir, { model: fit.model }); // ~0.3 s for DenseNet-121: best/ serves on ONNX Runtime
  }
  fit.plateau.step(record.val_loss);
  const next: TrainState = {
    ...state,
    epoch,
    plateau: fit.plateau.state,
    stopped: fit.early.step(record.val_loss),
    early: fit.early.state,
    history: [...state.history, record],
  };
  const checkpoint = await saveCheckpoint(run.checkpoints, fit.model, fit.optimizer, next, metadata);
  await writeHistory(run.historyFile, next.history);
  await pruneCheckpoints(run.checkpoints, run.keep, { spare: next.best ? [next.best.epoch] : [] });
  run.emit({ type: "epoch", record, checkpoint, best: isBest });
  if (next.stopped) {
    run.emit({
      type: "stop",
      reason:
        `Stopped early after epoch ${epoch}: validation loss did not improve for ${run.patience} epochs`,
    });
  }
  return next;
}

/** The bundle metadata of the model after `record`'s epoch; `history` holds the epochs before it. */
function bundleOptions(
  run: FitRun,
  fit: Fit,
  history: readonly EpochRecord[],
  record: EpochRecord,
): SaveBundleOptions {
  const { epoch } = record;
  const { trainCache, config: { arch, size } } = run;
  return {
    classNames: trainCache.classes,
    splitDigest: trainCache.splitDigest,
    architecture: { name: arch, inputSize: size },
    modelVersion: `${arch}-${checkpointName(epoch, record.val_loss)}`,
    weights: fit.provenance,
    training: {
      source: "NIH ChestX-ray14",
      ...(trainCache.splitMethod ? { splitMethod: trainCache.splitMethod } : {}),
      images: { train: trainCache.count, val: run.valCache.count },
      epochs: epoch,
      batchSize: run.batchSize,
      microBatch: run.microBatch,
      backend: run.backend,
      // Epochs before a resume included.
      seconds: [...history, record].reduce((t, h) => t + h.seconds, 0),
      lr: run.lr0,
      seed: run.seed,
      weightedLoss: run.config.weightedLoss,
    },
    metrics: {
      epoch,
      val_loss: record.val_loss,
      ...(record.mean_auroc === null ? {} : { mean_auroc: record.mean_auroc }),
      ...Object.fromEntries(
        Object.entries(record.val_auroc).filter(([, v]) => v !== null).map(([k, v]) => [`auroc/${k}`, v!]),
      ),
    },
  };
}
