/**
 * Importing Keras HDF5 weights (the `model.save_weights("x.h5")` / `model.save("x.h5")` layout of Keras 2
 * and tf.keras, as in the ImageNet "notop" file and the CheXNet Keras checkpoints) into a tfjs layers model.
 * Kernel layouts (HWIO for convolutions, [in, out] for Dense) are the same in Keras and tfjs, so values are
 * copied as they are.
 *
 * @module
 */
import { statSync } from "node:fs";
import h5wasm from "h5wasm/node";
import { tf, tfl } from "./tf.ts";
import { type KerasH5Weight, readKerasH5 } from "./_keras_h5.ts";
import { ModelError } from "./errors.ts";

/**
 * Weights missing from the file or with the wrong shape; lists every one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new KerasWeightsError("Cannot import", "w.h5", ["predictions/bias"], []);
 * assert.deepEqual(e.missing, ["predictions/bias"]);
 * ```
 */
export class KerasWeightsError extends ModelError {
  /**
   * @param file The HDF5 file.
   * @param missing Model weights (e.g. `conv1/conv/kernel`) the file does not have.
   * @param misshapen `name: model [a,b], file [c,d]` for each weight whose shapes differ.
   */
  constructor(
    message: string,
    readonly file: string,
    readonly missing: string[],
    readonly misshapen: string[],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Options for {@link importKerasWeights}. */
export interface ImportKerasWeightsOptions {
  /** Model layers to leave as initialised (e.g. `["predictions"]` with an ImageNet "notop" file). @default [] */
  skipLayers?: readonly string[];
  /**
   * Leave model weights the file lacks as initialised and list them in {@link KerasImportResult.missing}
   * instead of failing (e.g. `train --init colleague.h5` with another head). Shape mismatches still fail.
   * @default false
   */
  allowMissing?: boolean;
}

/** What {@link importKerasWeights} did. */
export interface KerasImportResult {
  /** Number of weights copied. */
  loaded: number;
  /** Model weights left alone because their layer was in `skipLayers`. */
  skipped: string[];
  /** Weights in the file that no model weight used (e.g. an optimizer's or another head's). */
  unused: string[];
  /** Model weights the file lacks, left as initialised (only ever non-empty with `allowMissing`). */
  missing: string[];
}

/** Reads every weight of a Keras HDF5 weights file, by name and by top-level layer group (names without `:0`). */
function readKerasWeights(
  file: string,
): { byName: Map<string, KerasH5Weight>; byLayer: Map<string, string[]> } {
  let groups: Map<string, KerasH5Weight[]>;
  try {
    if (!statSync(file).isFile()) throw new Error("not a file");
    groups = readKerasH5(file, true).groups;
  } catch (e) {
    const message = `Cannot import Keras weights from "${file}": ${(e as Error).message}`;
    throw new KerasWeightsError(message, file, [], [], { cause: e });
  }
  const byName = new Map([...groups.values()].flat().map((w) => [w.name, w]));
  const byLayer = new Map([...groups].map(([layer, weights]) => [layer, weights.map((w) => w.name)]));
  return { byName, byLayer };
}

/**
 * Copies the weights of a Keras HDF5 file into `model` as Keras' `load_weights(by_name=True)` does: each
 * layer's group by the layer's name and its weights by position, whatever they are called in the file (older
 * files have `conv1_W:0` or a session-uniquified `conv1/conv_1/kernel:0`); a nested model's weights (no group
 * per layer) by their `layer/weight` names (`conv1/conv/kernel`, `predictions/bias`, ...). All or nothing:
 * nothing is assigned unless every needed weight is present (or `allowMissing` is set) and has the right shape.
 *
 * @param model the tfjs model (e.g. from `createDenseNet`).
 * @param file path of the `.h5` file.
 * @returns counts of loaded weights; skipped, missing and unused weight names.
 * @throws {KerasWeightsError} naming every missing (unless `allowMissing`) and misshapen weight, or the
 *   unreadable file.
 * @example
 * ```ts ignore
 * const model = createDenseNet();
 * await importKerasWeights(model, "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5", {
 *   skipLayers: ["predictions"],
 * });
 * ```
 */
export async function importKerasWeights(
  model: tfl.LayersModel,
  file: string,
  options: ImportKerasWeightsOptions = {},
): Promise<KerasImportResult> {
  await h5wasm.ready;
  const { byName: source, byLayer } = readKerasWeights(file);
  const skip = new Set(options.skipLayers ?? []);
  const missing: string[] = [], misshapen: string[] = [], skipped: string[] = [];
  const assignments: [tfl.LayerVariable, { shape: number[]; values: Float32Array }][] = [];
  const used = new Set<string>();
  for (const layer of model.layers) {
    // The weight order is fixed (kernel, bias; gamma, beta, moving mean, moving variance) in Keras and tfjs alike.
    const group = byLayer.get(layer.name);
    const byPosition = group !== undefined && group.length === layer.weights.length;
    for (const [i, weight] of layer.weights.entries()) {
      const suffix = weight.originalName.slice(weight.originalName.lastIndexOf("/") + 1);
      const key = `${layer.name}/${suffix}`;
      if (skip.has(layer.name)) {
        skipped.push(key);
        continue;
      }
      const fileKey = (byPosition ? group[i] : undefined) ?? key;
      const found = source.get(fileKey);
      if (!found) {
        missing.push(key);
        continue;
      }
      used.add(fileKey);
      const shape = weight.shape as number[];
      if (found.shape.length !== shape.length || found.shape.some((d, j) => d !== shape[j])) {
        const stored = fileKey === key ? "" : ` (stored as ${fileKey})`;
        misshapen.push(`${key}: model [${shape}], file [${found.shape}]${stored}`);
        continue;
      }
      assignments.push([weight, found]);
    }
  }
  const missingFails = missing.length > 0 && !options.allowMissing;
  if (missingFails || misshapen.length) {
    const parts = [
      missingFails ? `missing ${missing.length}: ${missing.join(", ")}` : "",
      misshapen.length ? `wrong shape ${misshapen.length}: ${misshapen.join("; ")}` : "",
    ].filter(Boolean);
    throw new KerasWeightsError(
      `Cannot import Keras weights from "${file}": ${parts.join("; ")}`,
      file,
      missingFails ? missing : [],
      misshapen,
    );
  }
  for (const [weight, found] of assignments) {
    tf.tidy(() => {
      weight.write(tf.tensor(found.values, found.shape));
    });
  }
  return {
    loaded: assignments.length,
    skipped,
    unused: [...source.keys()].filter((k) => !used.has(k)),
    missing,
  };
}
