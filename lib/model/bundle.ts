/**
 * The model bundle: the only contract between train, evaluate, serve and deploy. A folder holding the tfjs
 * layers model (`model.json`, `weights.bin`) and `metadata.json` (class names in order, input size and
 * channels, normalisation, version, metrics, split digest).
 *
 * @module
 */
import { readFile, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { FINDINGS } from "../nih/classes.ts";
import {
  BUNDLE_FORMAT_VERSION,
  BundleMetadata,
  parseBundleMetadata,
  type TrainingRecord,
  type WeightsProvenance,
} from "./bundle_format.ts";
import { loadModel, replaceFolderAtomically, writeModelArtifacts } from "./io.ts";
import { MODEL_CARD_MD, modelCard } from "./model_card.ts";
import { Normalize } from "./normalize.ts";
import { tf, tfl } from "./tf.ts";
import { one } from "./_one.ts";
import { ModelError } from "./errors.ts";

/** The metadata file's name inside a bundle. */
export const METADATA_JSON = "metadata.json";

/** What {@link saveBundle} needs besides the model. */
export interface SaveBundleOptions {
  /** Output names in order. @default the 14 ChestX-ray14 findings */
  classNames?: readonly string[];
  /** Model version string. @default `createdAt` */
  modelVersion?: string;
  /** Training metrics. @default {} */
  metrics?: Record<string, number>;
  /** Digest of the split used for training. @default null */
  splitDigest?: string | null;
  /** Architecture description. @default {} */
  architecture?: Record<string, unknown>;
  /** Time written. @default now */
  createdAt?: Date;
  /** Where the weights came from. @default not recorded */
  weights?: WeightsProvenance;
  /** How `train` made the weights (data, settings, time). @default not recorded */
  training?: TrainingRecord;
}

/** A loaded bundle. */
export interface ModelBundle {
  /** The model, weights on the active backend. */
  model: tfl.LayersModel;
  /** Its metadata. */
  metadata: BundleMetadata;
  /** The folder it came from. */
  dir: string;
}

/**
 * A bundle's class names differ from what the caller expects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new LabelMismatchError("labels differ", ['position 1: expected "a", found "b"']);
 * assert.equal(e.differences.length, 1);
 * ```
 */
export class LabelMismatchError extends ModelError {
  /**
   * @param differences One line per difference, e.g. `position 4: expected "Mass", found "Nodule"`.
   */
  constructor(message: string, readonly differences: string[], options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The model in a bundle disagrees with its own metadata (output count, input shape).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(new BundleMismatchError("14 outputs but 13 class names", "b").dir, "b");
 * ```
 */
export class BundleMismatchError extends ModelError {
  constructor(message: string, readonly dir: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * Lists how two class-name lists differ, position by position.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(classDifferences(["a", "b"], ["a", "c", "d"]), [
 *   'position 2: expected "b", found "c"',
 *   'position 3: unexpected "d"',
 * ]);
 * ```
 */
export function classDifferences(expected: readonly string[], found: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < Math.max(expected.length, found.length); i++) {
    if (i >= found.length) out.push(`position ${i + 1}: missing "${expected[i]}"`);
    else if (i >= expected.length) out.push(`position ${i + 1}: unexpected "${found[i]}"`);
    else if (expected[i] !== found[i]) {
      out.push(`position ${i + 1}: expected "${expected[i]}", found "${found[i]}"`);
    }
  }
  return out;
}

function shape(model: tfl.LayersModel): { size: number; channels: number; outputs: number } {
  const input = one(model.inputs).shape;
  const output = one(model.outputs).shape;
  return {
    size: input[1] as number,
    channels: input[3] as number,
    outputs: output[output.length - 1] as number,
  };
}

/**
 * Writes `model` and its metadata into `dir`, atomically (temporary folder, then rename).
 *
 * @param model a model taking `[batch, size, size, channels]` raw pixels.
 * @param dir the bundle folder; replaced as a whole if it exists.
 * @returns the metadata written.
 * @throws {RangeError} when the class count differs from the model's outputs.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet } from "./densenet.ts";
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const dir = Deno.makeTempDirSync() + "/bundle";
 * const meta = await saveBundle(model, dir, { modelVersion: "v1", metrics: { loss: 0.3 } });
 * const bundle = await loadBundle(dir);
 * assert.deepEqual(bundle.metadata, meta);
 * assert.equal(bundle.metadata.classNames[1], "Cardiomegaly");
 * ```
 */
export async function saveBundle(
  model: tfl.LayersModel,
  dir: string,
  options: SaveBundleOptions = {},
): Promise<BundleMetadata> {
  const { size, channels, outputs } = shape(model);
  const classNames = [...(options.classNames ?? FINDINGS)];
  if (classNames.length !== outputs) {
    throw new RangeError(`saveBundle: ${classNames.length} class names for a model with ${outputs} outputs`);
  }
  const normalizer = model.layers.find((l) => l instanceof Normalize) as Normalize | undefined;
  const createdAt = (options.createdAt ?? new Date()).toISOString();
  const metadata: BundleMetadata = {
    formatVersion: BUNDLE_FORMAT_VERSION,
    classNames,
    inputSize: size,
    channels,
    normalization: normalizer ? { ...normalizer.normalization } : null,
    modelVersion: options.modelVersion ?? createdAt,
    createdAt,
    architecture: options.architecture ?? {},
    metrics: { ...(options.metrics ?? {}) },
    splitDigest: options.splitDigest ?? null,
    ...(options.weights ? { weights: structuredClone(options.weights) } : {}),
    ...(options.training ? { training: structuredClone(options.training) } : {}),
  };
  await replaceFolderAtomically(dir, async (tmp) => {
    await model.save(tf.io.withSaveHandler((artifacts) => writeModelArtifacts(tmp, artifacts)));
    await writeFile(join(tmp, METADATA_JSON), JSON.stringify(metadata, null, 2) + "\n");
    await writeFile(join(tmp, MODEL_CARD_MD), modelCard(metadata));
  });
  return metadata;
}

/**
 * No model bundle where one was expected (the folder or its `metadata.json` is missing). Its message is one
 * short line and so is its `stack`: in a notebook the cell shows what to do, not a trace.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new MissingBundleError('No model bundle at "/m": train one first', "/m");
 * assert.equal(e.dir, "/m");
 * assert.equal(e.stack, 'MissingBundleError: No model bundle at "/m": train one first');
 * ```
 */
export class MissingBundleError extends ModelError {
  /**
   * @param dir The folder looked at (absolute).
   */
  constructor(message: string, readonly dir: string, options?: ErrorOptions) {
    super(message, options);
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** Options of {@link requireBundle}. */
export interface RequireBundleOptions {
  /** What to do about a missing bundle, appended to the message. @default "train one first (`deno task cxr train`) or pass another folder" */
  hint?: string;
}

/**
 * Checks that `dir` holds a model bundle before anything uses it, and reads its metadata. Notebooks call it
 * in the first cell that needs an earlier notebook's output, so opened alone they stop there with one line
 * saying what to run, instead of a raw `ENOENT` and a cascade of errors in later cells.
 *
 * @throws {MissingBundleError} when the folder or its `metadata.json` does not exist.
 * @throws {BundleMetadataSyntaxError} when `metadata.json` is there but unreadable.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * await assert.rejects(
 *   requireBundle("/nonexistent/best", { hint: "run notebook 03 first, or set modelDir" }),
 *   { name: "MissingBundleError", message: 'No model bundle at "/nonexistent/best": run notebook 03 first, or set modelDir' },
 * );
 * ```
 */
export async function requireBundle(
  dir: string,
  options: RequireBundleOptions = {},
): Promise<BundleMetadata> {
  const abs = resolve(dir);
  const hint = options.hint ?? "train one first (`deno task cxr train`) or pass another folder";
  const missing = (why: string, cause?: unknown) =>
    new MissingBundleError(`No model bundle at "${abs}"${why}: ${hint}`, abs, { cause });
  const code = (e: unknown) => (e as NodeJS.ErrnoException).code ?? "";
  let info;
  try {
    info = await stat(abs);
  } catch (e) {
    if (!["ENOENT", "ENOTDIR"].includes(code(e))) throw e;
    throw missing("", e);
  }
  if (!info.isDirectory()) throw missing(" (not a folder)");
  try {
    return await readBundleMetadata(abs);
  } catch (e) {
    if (code(e) === "ENOENT") throw missing(` (the folder has no ${METADATA_JSON})`, e);
    throw e;
  }
}

/** Options for {@link loadBundle}. */
export interface LoadBundleOptions {
  /** Class names the caller needs, in order. @default the 14 ChestX-ray14 findings */
  expectedClasses?: readonly string[];
}

/**
 * Reads a bundle's metadata only (cheap: no weights), validated.
 *
 * @throws {BundleMetadataSyntaxError} for unreadable metadata; a Node `ENOENT` error when it is missing.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * await assert.rejects(readBundleMetadata("/nonexistent"), /ENOENT|No such file/);
 * ```
 */
export async function readBundleMetadata(dir: string): Promise<BundleMetadata> {
  const file = join(dir, METADATA_JSON);
  return parseBundleMetadata(await readFile(file, "utf8"), file);
}

/**
 * Loads a bundle, refusing one whose class names differ from `expectedClasses` or whose model disagrees
 * with its metadata.
 *
 * @throws {LabelMismatchError} listing every differing position; {@link BundleMismatchError};
 * `BundleMetadataSyntaxError`; `ModelFileError`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * await assert.rejects(loadBundle("/nonexistent"));
 * ```
 */
export async function loadBundle(dir: string, options: LoadBundleOptions = {}): Promise<ModelBundle> {
  const metadata = await readBundleMetadata(dir);
  const expected = options.expectedClasses ?? FINDINGS;
  const differences = classDifferences(expected, metadata.classNames);
  if (differences.length > 0) {
    throw new LabelMismatchError(
      `Bundle "${dir}" has other class names than expected: ${differences.join("; ")}`,
      differences,
    );
  }
  const model = await loadModel(dir);
  const { size, channels, outputs } = shape(model);
  const problems = [
    outputs !== metadata.classNames.length
      ? `${outputs} outputs but ${metadata.classNames.length} class names`
      : "",
    size !== metadata.inputSize ? `input size ${size} but metadata says ${metadata.inputSize}` : "",
    channels !== metadata.channels ? `${channels} input channels but metadata says ${metadata.channels}` : "",
  ].filter(Boolean);
  if (problems.length > 0) {
    model.dispose();
    throw new BundleMismatchError(
      `Bundle "${dir}": model and ${METADATA_JSON} disagree: ${problems.join("; ")}`,
      dir,
    );
  }
  return { model, metadata, dir };
}
