// Helpers shared by this folder's tests and tests/{evaluate,cam}_cli_test.ts: a tiny DenseNet bundle with
// deterministic weights and a small cxr-cache/1 partition written directly.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FINDINGS } from "../nih/mod.ts";
import { createDenseNet, saveBundle, tf, tfl } from "../model/mod.ts";
import { mulberry32 } from "../random.ts";

/** A tiny DenseNet (input `size`, default 32) with seeded weights; the caller disposes it. */
export function tinyModel(size = 32, seed = 3): tfl.LayersModel {
  const model = createDenseNet({ blocks: [2, 1], growthRate: 4, inputSize: size });
  const rnd = mulberry32(seed);
  model.setWeights(model.weights.map((w) => {
    const shape = w.shape as number[];
    const count = shape.reduce((p, d) => p * d, 1);
    const positive = /moving_variance|gamma/.test(w.originalName);
    const values = Float32Array.from({ length: count }, () => positive ? 0.5 + rnd() : (rnd() - 0.5) * 0.6);
    return tf.tensor(values, shape);
  }));
  return model;
}

/** Saves {@linkcode tinyModel} as a bundle in `dir`; returns `dir`. */
export async function tinyBundle(dir: string, size = 32, seed?: number): Promise<string> {
  const model = tinyModel(size, seed);
  await saveBundle(model, dir, { modelVersion: "tiny-test" });
  model.dispose();
  return dir;
}

/**
 * Writes `<dir>/<partition>.{bin,json}` with `count` images of `size`² pixels: image i is a gradient whose
 * brightness grows with i, and label strings cycle so every class has positives and negatives (Hernia none).
 */
export function writeTestCache(dir: string, partition: string, count: number, size: number): void {
  const pixels = new Uint8Array(count * size * size);
  const rnd = mulberry32(count);
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < size * size; p++) pixels[i * size * size + p] = Math.floor(rnd() * 256);
  }
  const labels = Array.from(
    { length: count },
    (_, i) => FINDINGS.map((_, k) => (k < 13 && (i + k) % 3 === 0 ? "1" : "0")).join(""),
  );
  writeFileSync(join(dir, `${partition}.bin`), pixels);
  writeFileSync(
    join(dir, `${partition}.json`),
    JSON.stringify({
      format: "cxr-cache/1",
      partition,
      size,
      count,
      classes: FINDINGS,
      names: Array.from({ length: count }, (_, i) => `${String(i + 1).padStart(8, "0")}_000.png`),
      labels,
      splitDigest: "test",
      failed: [],
    }),
  );
}
