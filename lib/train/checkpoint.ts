/**
 * Checkpoints: after every epoch, `checkpoints/epoch-003-val-0.2134/` is a model bundle (lib/model's
 * `saveBundle`) plus the optimizer's moments (`optimizer.json` + `optimizer.bin`) and the training state
 * (`train_state.json`: epoch, schedule, early stopping, best so far, history, seed), written atomically.
 *
 * @module
 */
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  loadBundle,
  type ModelBundle,
  replaceFolderAtomically,
  saveBundle,
  type SaveBundleOptions,
  tf,
  tfl,
  type WeightsProvenance,
} from "../model/mod.ts";
import { TrainError } from "./errors.ts";
import type { EpochRecord } from "./events.ts";
import type { EarlyStoppingState, PlateauState } from "./schedule.ts";

/** The `format` of `train_state.json`. */
export const TRAIN_STATE_FORMAT = "cxr-train-state/1";

/** What must match for a run to resume from a checkpoint. */
export interface TrainConfig {
  /** Architecture name (`densenet121`, `tiny`). */
  arch: string;
  /** Input side. */
  size: number;
  /** Images per optimizer step. */
  batchSize: number;
  /** Class weighting of the loss. */
  weightedLoss: boolean;
  /** Seed of shuffling and augmentation. */
  seed: number;
  /** Starting weights (`imagenet`, `none` or a file path); absent in checkpoints from before it existed. */
  init?: string;
  /** `none`, `backbone` or the first trained layer; absent in checkpoints from before it existed. */
  freeze?: string;
}

/** `train_state.json`. */
export interface TrainState {
  format: typeof TRAIN_STATE_FORMAT;
  /** Epochs completed. */
  epoch: number;
  /** The run's settings. */
  config: TrainConfig;
  /** Learning-rate schedule. */
  plateau: PlateauState;
  /** Early stopping. */
  early: EarlyStoppingState;
  /** Best epoch so far. */
  best: { epoch: number; val_loss: number; mean_auroc: number | null } | null;
  /** Whether early stopping ended the run. */
  stopped: boolean;
  /** Every epoch so far. */
  history: EpochRecord[];
  /** Where the starting weights came from; absent in checkpoints from before it was recorded. */
  weights?: WeightsProvenance;
}

/**
 * A checkpoint cannot be used: unreadable state, or settings that differ from the run's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(new CheckpointError("bad", "run/checkpoints/epoch-001-val-0.5000").name, "CheckpointError");
 * ```
 */
export class CheckpointError extends TrainError {
  /**
   * @param message What is wrong with the checkpoint.
   * @param dir The checkpoint folder.
   */
  constructor(message: string, readonly dir: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The folder name of a checkpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(checkpointName(3, 0.21344), "epoch-003-val-0.2134");
 * ```
 */
export function checkpointName(epoch: number, valLoss: number): string {
  return `epoch-${String(epoch).padStart(3, "0")}-val-${valLoss.toFixed(4)}`;
}

const STATE_JSON = "train_state.json";
const OPTIMIZER_JSON = "optimizer.json";
const OPTIMIZER_BIN = "optimizer.bin";

/**
 * Writes a checkpoint into `checkpointsDir` atomically: the model bundle, the optimizer's weights and the
 * training state.
 *
 * @param checkpointsDir the folder holding checkpoints.
 * @param optimizer its optimizer (Adam's moments are saved).
 * @param state the training state after the epoch.
 * @param bundle bundle metadata (metrics, split digest, architecture).
 * @returns the checkpoint folder.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, tf } from "../model/mod.ts";
 * const model = createDenseNet({ blocks: [1], growthRate: 2, inputSize: 8 });
 * const dir = Deno.makeTempDirSync();
 * const state = { format: "cxr-train-state/1" as const, epoch: 1, stopped: false, best: null, history: [],
 *   config: { arch: "t", size: 8, batchSize: 2, weightedLoss: false, seed: 0 },
 *   plateau: { lr: 1e-3, best: 0.5, wait: 0 }, early: { best: Infinity, wait: 0 } };
 * const saved = await saveCheckpoint(dir, model, tf.train.adam(), state);
 * assert.equal(await findLatestCheckpoint(dir), saved);
 * const loaded = await loadCheckpoint(saved);
 * assert.equal(loaded.state.early.best, Infinity);
 * ```
 */
export async function saveCheckpoint(
  checkpointsDir: string,
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  state: TrainState,
  bundle: SaveBundleOptions = {},
): Promise<string> {
  const last = state.history.at(-1);
  const dir = join(checkpointsDir, checkpointName(state.epoch, last?.val_loss ?? NaN));
  const weights = await optimizer.getWeights();
  const entries: { name: string; shape: number[]; dtype: string }[] = [];
  const chunks: Uint8Array[] = [];
  for (const w of weights) {
    const data = await w.tensor.data();
    entries.push({ name: w.name, shape: w.tensor.shape, dtype: w.tensor.dtype });
    chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice());
  }
  tf.dispose(weights.filter((w) => w.name === "iter").map((w) => w.tensor));
  await replaceFolderAtomically(dir, async (tmp) => {
    await saveBundle(model, tmp, bundle);
    await writeFile(join(tmp, OPTIMIZER_BIN), Buffer.concat(chunks));
    await writeFile(join(tmp, OPTIMIZER_JSON), JSON.stringify({ weights: entries }) + "\n");
    // Written last: a folder without it is not a usable checkpoint.
    await writeFile(join(tmp, STATE_JSON), JSON.stringify(state, null, 1) + "\n");
  });
  return dir;
}

/**
 * The checkpoint with the highest epoch in `checkpointsDir`, or `null` when there is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(await findLatestCheckpoint("/nonexistent"), null);
 * ```
 */
export async function findLatestCheckpoint(checkpointsDir: string): Promise<string | null> {
  const names = (await checkpointFolders(checkpointsDir))
    .filter((n) => existsSync(join(checkpointsDir, n, STATE_JSON)));
  return names.length ? join(checkpointsDir, names.at(-1)!) : null;
}

/**
 * Removes all but the newest `keep` checkpoints, sparing the epochs in `options.spare` (the best one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * for (const e of ["001", "002", "003", "004"]) Deno.mkdirSync(`${dir}/epoch-${e}-val-0.5000`);
 * await pruneCheckpoints(dir, 2, { spare: [1] });
 * assert.deepEqual(Deno.readDirSync(dir).map((e) => e.name).toArray().sort(),
 *   ["epoch-001-val-0.5000", "epoch-003-val-0.5000", "epoch-004-val-0.5000"]);
 * ```
 */
export async function pruneCheckpoints(
  checkpointsDir: string,
  keep: number,
  options: { spare?: readonly number[] } = {},
): Promise<void> {
  const names = await checkpointFolders(checkpointsDir);
  for (const n of names.slice(0, Math.max(0, names.length - keep))) {
    if (options.spare?.includes(epochOf(n))) continue;
    await rm(join(checkpointsDir, n), { recursive: true, force: true });
  }
}

function epochOf(name: string): number {
  return Number(/^epoch-(\d+)-val-/.exec(name)?.[1] ?? NaN);
}

/** The checkpoint folder names in `checkpointsDir` (none when it does not exist), oldest epoch first. */
async function checkpointFolders(checkpointsDir: string): Promise<string[]> {
  if (!existsSync(checkpointsDir)) return [];
  return (await readdir(checkpointsDir)).filter((n) => Number.isFinite(epochOf(n)))
    .sort((a, b) => epochOf(a) - epochOf(b));
}

/**
 * The checkpoint folder of `epoch`, or `null` when it is gone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${dir}/epoch-007-val-0.1000`);
 * assert.equal(await findCheckpoint(dir, 7), `${dir}/epoch-007-val-0.1000`);
 * assert.equal(await findCheckpoint(dir, 8), null);
 * ```
 */
export async function findCheckpoint(checkpointsDir: string, epoch: number): Promise<string | null> {
  const name = (await checkpointFolders(checkpointsDir)).find((n) => epochOf(n) === epoch);
  return name ? join(checkpointsDir, name) : null;
}

/** A loaded checkpoint. */
export interface LoadedCheckpoint extends ModelBundle {
  /** The training state. */
  state: TrainState;
  /** The optimizer's weights, for `optimizer.setWeights` (the caller disposes them). */
  optimizerWeights: { name: string; tensor: tf.Tensor }[];
}

/**
 * Loads a checkpoint written by {@linkcode saveCheckpoint}.
 *
 * @throws {CheckpointError} when the state or optimizer files are missing or unreadable.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * await assert.rejects(loadCheckpoint("/nonexistent/epoch-001-val-0.5000"), CheckpointError);
 * ```
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  let state: TrainState;
  let entries: { name: string; shape: number[]; dtype: "float32" | "int32" }[];
  let bin: Uint8Array;
  try {
    state = JSON.parse(await readFile(join(dir, STATE_JSON), "utf8"));
    entries = JSON.parse(await readFile(join(dir, OPTIMIZER_JSON), "utf8")).weights;
    bin = await readFile(join(dir, OPTIMIZER_BIN));
  } catch (e) {
    throw new CheckpointError(`Cannot read checkpoint "${dir}": ${(e as Error).message}`, dir, { cause: e });
  }
  if (state.format !== TRAIN_STATE_FORMAT) {
    const format = JSON.stringify(state.format);
    throw new CheckpointError(
      `Cannot read checkpoint "${dir}": ${STATE_JSON} has format ${format}, expected "${TRAIN_STATE_FORMAT}"`,
      dir,
    );
  }
  // JSON has no Infinity: "no best yet" comes back as null.
  state.plateau.best ??= Infinity;
  state.early.best ??= Infinity;
  const bundle = await loadBundle(dir);
  let offset = 0;
  const optimizerWeights = entries.map((e) => {
    const n = tf.util.sizeFromShape(e.shape);
    // A copy with its own buffer (a Node Buffer's slice is a view into a shared pool).
    const bytes = new Uint8Array(bin.subarray(offset, offset + 4 * n));
    offset += 4 * n;
    const values = e.dtype === "int32" ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
    return { name: e.name, tensor: tf.tensor(values, e.shape, e.dtype) };
  });
  if (offset !== bin.byteLength) {
    tf.dispose(optimizerWeights.map((w) => w.tensor));
    bundle.model.dispose();
    throw new CheckpointError(
      `Cannot read checkpoint "${dir}": ${OPTIMIZER_BIN} holds ${bin.byteLength} bytes, ${OPTIMIZER_JSON} describes ${offset}`,
      dir,
    );
  }
  return { ...bundle, state, optimizerWeights };
}
