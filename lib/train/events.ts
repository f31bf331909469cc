/**
 * The progress events `train` reports through its `onProgress` option, and {@linkcode EpochRecord}, the
 * history line an epoch event carries (lib/train/history.ts reads and writes them).
 *
 * @module
 */
import type { WeightsProvenance } from "../model/mod.ts";
import type { FreezeSummary, InitSummary } from "./init.ts";

/** One epoch, as written to `history.jsonl`. */
export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch's batches. */
  loss: number;
  /** Validation loss. */
  val_loss: number;
  /** Validation AUROC per class; `null` where the partition has no positive or no negative. */
  val_auroc: Record<string, number | null>;
  /** Mean over the defined classes. */
  mean_auroc: number | null;
  /** Learning rate used in the epoch. */
  lr: number;
  /** Wall time of the epoch (training and validation). */
  seconds: number;
  /** Training images per second. */
  "images/s": number;
}

/** The starting weights were set (a fresh run only, before `start`). */
export interface TrainInitEvent {
  type: "init";
  /** What was loaded, from where. */
  init: InitSummary;
}

/** Training starts, fresh or resumed from a checkpoint. */
export interface TrainStartEvent {
  type: "start";
  /** The active tfjs backend. */
  backend: string;
  /** Epochs in all. */
  epochs: number;
  /** The first epoch this run trains (1-based; > 1 after a resume). */
  startEpoch: number;
  /** The checkpoint folder resumed from, or `null`. */
  resumedFrom: string | null;
  /** Training images. */
  train: number;
  /** Validation images. */
  val: number;
  /** Images per optimizer step. */
  batchSize: number;
  /** Images per forward/backward pass (gradients accumulate up to `batchSize`). */
  microBatch: number;
  /** Data-parallel gradient workers, this thread included. @default 1 */
  workers?: number;
  /** What computes the gradients. @default "tfjs" */
  engine?: "onnx" | "tfjs";
  /** ONNX Runtime's threads per worker (onnx engine). @default 1 */
  threads?: number;
  /** The GPUs trained on (onnx engine on cuda). @default none */
  devices?: number[];
  /** Epochs already done (from the checkpoint). */
  history?: EpochRecord[];
  /** Where the weights came from (recorded at the fresh start). */
  weights?: WeightsProvenance;
  /** What trains and what is frozen. */
  freeze?: FreezeSummary;
}

/** A training step finished. */
export interface TrainBatchEvent {
  type: "batch";
  /** 1-based epoch. */
  epoch: number;
  /** Epochs in all. */
  epochs: number;
  /** Steps done in this epoch (1-based). */
  batch: number;
  /** Steps in this epoch. */
  batches: number;
  /** Mean training loss of the epoch so far. */
  loss: number;
  /** Training images per second in this epoch so far, over all gradient threads. */
  "images/s"?: number;
}

/** An epoch finished: validated, checkpointed, recorded. */
export interface TrainEpochEvent {
  type: "epoch";
  /** The history line. */
  record: EpochRecord;
  /** The checkpoint folder written. */
  checkpoint: string;
  /** Whether this epoch is the best so far (and was written to `best/`). */
  best: boolean;
}

/** Training ended before the last epoch (early stopping). */
export interface TrainStopEvent {
  type: "stop";
  /** Why, in words. */
  reason: string;
}

/** Any training event. */
export type TrainEvent =
  | TrainInitEvent
  | TrainStartEvent
  | TrainBatchEvent
  | TrainEpochEvent
  | TrainStopEvent;
