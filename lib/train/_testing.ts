/**
 * Test helpers: a synthetic preprocessed cache, batches, weight values and a training state.
 *
 * @module
 */
import { join } from "node:path";
import { preprocess } from "../images/mod.ts";
import { tf } from "../model/mod.ts";
import { officialSplit, readEntries, readSplitList, synthesize } from "../nih/mod.ts";
import type { TrainState } from "./checkpoint.ts";

/**
 * Writes a small synthetic data set (lib/nih `synthesize`) and preprocesses it, split patient-wise with the
 * official lists (a quarter of the train_val patients for validation): writes `<dir>/nih` (synthetic PNGs) and `<dir>/cache` (`cxr-cache/1`); returns the cache folder. */
export async function writeSyntheticCache(
  dir: string,
  options: { images: number; size: number; seed?: number },
): Promise<string> {
  const data = join(dir, "nih");
  const cache = join(dir, "cache");
  await synthesize(data, { images: options.images, size: options.size, seed: options.seed ?? 1 });
  const entries = readEntries(join(data, "Data_Entry_2017.csv"));
  const { split } = officialSplit(
    entries,
    readSplitList(join(data, "train_val_list.txt")),
    readSplitList(join(data, "test_list.txt")),
    { valFraction: 0.25 },
  );
  await preprocess(data, cache, { split, entries, size: options.size });
  return cache;
}

/** A fixed batch of two 8×8 images and their 14 labels. */
export function fixedBatch(): [tf.Tensor4D, tf.Tensor2D] {
  const x = tf.tensor4d(Array.from({ length: 2 * 64 }, (_, i) => (i * 37) % 256), [2, 8, 8, 1]);
  const y = tf.tensor2d(Array.from({ length: 28 }, (_, i) => (i % 3 === 0 ? 1 : 0)), [2, 14]);
  return [x, y];
}

/** `n` random 32×32 images drawn from `seed` and 14 labels (each 1 with p = 0.4) drawn from `seed + 1`. */
export function randomBatch(seed: number, n = 8): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => [
    tf.randomUniform([n, 32, 32, 1], 0, 255, "float32", seed),
    tf.cast(tf.greater(tf.randomUniform([n, 14], 0, 1, "float32", seed + 1), 0.6), "float32"),
  ]);
}

/** Every value of every weight of `model`, in order. */
export async function weightValues(model: { getWeights(): tf.Tensor[] }): Promise<number[]> {
  return (await Promise.all(model.getWeights().map((w) => w.data()))).flatMap((d) => [...d]);
}

/** The state of a `tiny` run at 8 px after `epoch`, whose one history line has validation loss `valLoss`. */
export function trainState(epoch: number, valLoss: number): TrainState {
  return {
    format: "cxr-train-state/1",
    epoch,
    config: { arch: "tiny", size: 8, batchSize: 2, weightedLoss: false, seed: 0 },
    plateau: { lr: 1e-3, best: valLoss, wait: 0 },
    early: { best: valLoss, wait: 0 },
    best: { epoch, val_loss: valLoss, mean_auroc: null },
    stopped: false,
    history: [{
      epoch,
      loss: 1,
      val_loss: valLoss,
      val_auroc: {},
      mean_auroc: null,
      lr: 1e-3,
      seconds: 1,
      "images/s": 1,
    }],
  };
}
