/**
 * The benchmarks' model: DenseNet-121 at 224 with weights from a seeded PRNG (He-scaled kernels, BatchNorm
 * variances and scales positive), saved once as a bundle with `model.onnx`, so every bench scores the same model.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createDenseNet, saveBundle, selectBackend, tf } from "../lib/model/mod.ts";
import { writeBundleOnnx } from "../lib/model/onnx_export.ts";
import { mulberry32 } from "../lib/random.ts";

/**
 * Writes the seeded DenseNet-121 bundle into `dir` unless it is there already.
 *
 * @param dir the bundle folder.
 * @returns whether it was built now.
 */
export async function buildSeededDenseNetBundle(dir: string): Promise<boolean> {
  if (existsSync(join(dir, "model.onnx"))) return false;
  await selectBackend("cpu");
  const model = createDenseNet({ inputSize: 224 });
  const rng = mulberry32(121);
  model.setWeights(model.weights.map((w) => {
    const n = (w.shape as number[]).reduce((a, b) => a * b, 1);
    const positive = /moving_variance|gamma/.test(w.originalName);
    const scale = positive ? 1 : Math.sqrt(2 / Math.max(1, n / ((w.shape as number[]).at(-1) ?? 1)));
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = positive ? 0.5 + rng() : (rng() * 2 - 1) * scale;
    return tf.tensor(values, w.shape as number[]);
  }));
  await saveBundle(model, dir, {
    modelVersion: "bench-densenet121-seed121",
    architecture: { name: "densenet121" },
  });
  await writeBundleOnnx(dir, { model });
  model.dispose();
  return true;
}
