// Where `train` (lib/train/fit.ts) starts: the newest checkpoint (settings checked, `best/` put back in step)
// or a fresh model with its starting weights; then the frozen layers, the gradient threads and Adam.
import { existsSync } from "node:fs";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import {
  METADATA_JSON,
  MODEL_CARD_MD,
  MODEL_JSON,
  readBundleMetadata,
  replaceFolderAtomically,
  tf,
  tfl,
  WEIGHTS_BIN,
  type WeightsProvenance,
} from "../model/mod.ts";
import type { Fit, FitRun } from "./_fit_epoch.ts";
import {
  CheckpointError,
  findCheckpoint,
  loadCheckpoint,
  type TrainConfig,
  type TrainState,
} from "./checkpoint.ts";
import {
  freezeLayers,
  type FreezeSummary,
  initializeWeights,
  seedKernels,
  weightsProvenance,
} from "./init.ts";
import { writeHistory } from "./history.ts";
import { kerasAdam } from "./optimizer.ts";
import { startGradientWorkers } from "./parallel.ts";
import type { GradientWorkers } from "./step.ts";
import { EarlyStopping, ReduceLrOnPlateau } from "./schedule.ts";

/** What a checkpoint written before a setting existed is taken to have used. */
const CONFIG_DEFAULTS: Pick<TrainConfig, "init" | "freeze"> = { init: "none", freeze: "none" };

/** Where a run starts from. */
export interface FitStart {
  model: tfl.LayersModel;
  state: TrainState;
  /** Adam's saved variables (a resume's), or none. */
  optimizerWeights: { name: string; tensor: tf.Tensor }[];
}

/**
 * Continues from `latest`: its model, state and Adam's variables; writes its history and makes `best/` that of
 * its best epoch again.
 *
 * @throws {CheckpointError} when it was trained with other settings.
 */
export async function resumeFrom(run: FitRun, latest: string): Promise<FitStart> {
  const { config } = run;
  const ckpt = await loadCheckpoint(latest);
  // Checkpoints from before --init/--freeze existed started from random weights and trained everything.
  const before = { ...CONFIG_DEFAULTS, ...ckpt.state.config };
  const differs = (Object.keys(config) as (keyof TrainConfig)[]).filter((k) => before[k] !== config[k]);
  if (differs.length) {
    ckpt.model.dispose();
    tf.dispose(ckpt.optimizerWeights.map((w) => w.tensor));
    const changes = differs.map((k) => `${k}: ${before[k]} there, ${config[k]} now`).join("; ");
    throw new CheckpointError(
      `Cannot resume from "${latest}": it was trained with other settings (${changes}); pass --no-resume or another --out`,
      latest,
    );
  }
  const state = { ...ckpt.state, config: before };
  await writeHistory(run.historyFile, state.history);
  if (state.best) {
    const best = await findCheckpoint(run.checkpoints, state.best.epoch);
    await restoreBest(run.bestDir, best, state.best.epoch);
  }
  return { model: ckpt.model, state, optimizerWeights: ckpt.optimizerWeights };
}

/**
 * Makes `best/` the model of the best epoch again when a kill left it out of step with the checkpoint resumed
 * from (it is written before the checkpoint of its epoch); the best epoch's checkpoint is never pruned.
 */
async function restoreBest(bestDir: string, checkpoint: string | null, epoch: number): Promise<void> {
  const current = await readBundleMetadata(bestDir).then((m) => m.metrics.epoch, () => undefined);
  if (current === epoch || checkpoint === null) return;
  await replaceFolderAtomically(bestDir, async (tmp) => {
    for (const f of [MODEL_JSON, WEIGHTS_BIN, METADATA_JSON, MODEL_CARD_MD]) {
      if (f === MODEL_CARD_MD && !existsSync(join(checkpoint, f))) continue; // checkpoints from before cards
      await copyFile(join(checkpoint, f), join(tmp, f));
    }
  });
}

/** Starts `model` (freshly built) afresh: kernels seeded from the run's seed, then its starting weights. */
export async function freshStart(run: FitRun, model: tfl.LayersModel): Promise<FitStart> {
  const { config, init, freeze } = run;
  seedKernels(model, run.seed); // reproducible from the seed; a weights file then overwrites what it has
  let provenance: WeightsProvenance;
  try {
    const initSummary = await initializeWeights(model, init, {
      arch: config.arch,
      pretrained: run.pretrained,
    });
    run.emit({ type: "init", init: initSummary });
    provenance = weightsProvenance(initSummary, freeze);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const state: TrainState = {
    format: "cxr-train-state/1",
    epoch: 0,
    config,
    plateau: new ReduceLrOnPlateau(run.lr0).state,
    early: new EarlyStopping(run.patience).state,
    best: null,
    stopped: false,
    history: [],
    weights: provenance,
  };
  return { model, state, optimizerWeights: [] };
}

/**
 * Freezes the layers the run keeps fixed, starts the gradient threads and Adam (with a resume's variables) and
 * the schedules where `start` left them. The model is disposed if any of it fails.
 */
export async function prepareFit(run: FitRun, start: FitStart): Promise<{ fit: Fit; frozen: FreezeSummary }> {
  const { model, state, optimizerWeights } = start;
  let frozen: FreezeSummary;
  let workers: GradientWorkers | undefined;
  try {
    frozen = freezeLayers(model, run.freeze);
    if (run.engine === "onnx" || run.workers > 1) {
      const { engine, threads, provider, devices } = run;
      workers = await startGradientWorkers(model, {
        workers: run.workers,
        engine,
        threads,
        provider,
        devices,
      });
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  // Created only now: Adam allocates variables, which an early throw above would leak.
  const optimizer = kerasAdam(run.lr0);
  if (optimizerWeights.length) {
    await optimizer.setWeights(optimizerWeights);
    tf.dispose(optimizerWeights.map((w) => w.tensor));
  }
  const fit: Fit = {
    model,
    optimizer,
    variables: model.trainableWeights.map((w) => w.read() as tf.Variable),
    workers,
    plateau: new ReduceLrOnPlateau(run.lr0, {}, state.plateau),
    early: new EarlyStopping(run.patience, state.early),
    // Checkpoints from before it was recorded started from random weights.
    provenance: state.weights ?? { init: "none", freeze: run.freeze },
  };
  return { fit, frozen };
}
