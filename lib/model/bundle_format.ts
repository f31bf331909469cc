/**
 * The model bundle's `metadata.json`: its wire type and the one validating parse function.
 *
 * @module
 */
import { checkNormalization, Normalization } from "./normalize.ts";
import { jsonErrorOffset, lineColumn } from "../json_position.ts";
import { CxrSyntaxError } from "../errors.ts";

/** Version of the metadata layout written by this code. */
export const BUNDLE_FORMAT_VERSION = 1;

/** Contents of `metadata.json` in a model bundle. */
export interface BundleMetadata {
  /** Layout version, {@link BUNDLE_FORMAT_VERSION}. */
  formatVersion: number;
  /** Output names, in the order of the model's outputs. */
  classNames: string[];
  /** Input height and width in pixels. */
  inputSize: number;
  /** Channels of the raw input image (1 = grey). */
  channels: number;
  /** Normalisation applied inside the model (by its `normalize` layer); `null` if the model has none. */
  normalization: Normalization | null;
  /** Free-form model version, e.g. `2026-11-25T21:00:00Z-densenet121`. */
  modelVersion: string;
  /** ISO-8601 time the bundle was written. */
  createdAt: string;
  /** Architecture description, e.g. `{ name: "densenet", blocks: [6, 12, 24, 16], growthRate: 32 }`. */
  architecture: Record<string, unknown>;
  /** Training and validation metrics by name (loss, mean AUROC, per-class AUROC, ...). */
  metrics: Record<string, number>;
  /** Digest of the data split the model was trained on, or `null` when unknown. */
  splitDigest: string | null;
  /** Where the weights came from (absent in bundles written before it was recorded). */
  weights?: WeightsProvenance;
  /** How `train` made these weights (absent for imported models and older bundles). */
  training?: TrainingRecord;
  /** The evaluation recorded with `cxr evaluate --record` (absent until then; dropped when the bundle is saved again). */
  evaluation?: EvaluationRecord;
}

/** How `train` made a bundle's weights: the data it saw, the settings and the time it took. */
export interface TrainingRecord {
  /** Where the images came from, e.g. `NIH ChestX-ray14`. */
  source?: string;
  /** How the split was made (`official`, `seed`, ...), when known. */
  splitMethod?: string;
  /** Images in the training and validation partitions. */
  images: { train: number; val: number };
  /** Epochs of training behind these weights (resumed runs included). */
  epochs: number;
  /** Images per optimizer step. */
  batchSize: number;
  /** Images per forward/backward pass (gradients accumulated up to `batchSize`). */
  microBatch: number;
  /** The tfjs backend, e.g. `wasm`, `tensorflow`. */
  backend: string;
  /** Seconds of training and validation up to these weights (sum over epochs). */
  seconds: number;
  /** Adam's initial learning rate. */
  lr?: number;
  /** Seed of shuffling and augmentation. */
  seed?: number;
  /** Whether the loss was weighted per class by label frequency. */
  weightedLoss?: boolean;
}

/** One finding's result in an {@link EvaluationRecord}. */
export interface EvaluationClassRecord {
  /** Exact AUROC; `null` without positives or negatives. */
  auroc: number | null;
  /** Bootstrap interval `[low, high]`, `null` when undefined or none was run. */
  ci: [number, number] | null;
  /** Images with the finding. */
  positives: number;
  /** Images without it. */
  negatives: number;
}

/** A bundle's recorded evaluation: per-class AUROC with intervals on one cache partition, and a reference. */
export interface EvaluationRecord {
  /** The cache partition evaluated, e.g. `test`. */
  partition: string;
  /** Images scored. */
  images: number;
  /** ISO-8601 time it was recorded. */
  recordedAt: string;
  /** Digest of the split the evaluated cache was built from, when known. */
  splitDigest?: string;
  /** The engine that scored (`onnx`, `tfjs`). */
  engine?: string;
  /** Bootstrap settings (`resamples` 0: no intervals). */
  bootstrap: { resamples: number; confidence: number; seed: number };
  /** By class, in the bundle's class order. */
  classes: Record<string, EvaluationClassRecord>;
  /** Mean AUROC over the findings with a defined AUROC, its interval, and how many findings that was. */
  mean: { auroc: number | null; ci: [number, number] | null; classes: number };
  /** Published per-class AUROC shown beside (CheXNet). */
  reference?: { name: string; source: string; note?: string; perClass: Record<string, number> };
}

/**
 * Where a bundle's weights came from: the starting point of training (`imagenet`: Keras Applications'
 * DenseNet-121 "notop" file; `none`: random initialisation; `file`: a Keras HDF5 file) or an imported Keras
 * model (`keras`), with the file's name and md5 so the start can be reproduced, and which layers were frozen.
 */
export interface WeightsProvenance {
  /** The starting point. */
  init: "imagenet" | "none" | "file" | "keras";
  /** Base name of the weights file, when there was one. */
  file?: string;
  /** md5 of that file (32 hex digits). */
  md5?: string;
  /** Where it was downloaded from (no query string), when it was. */
  url?: string;
  /** Weights copied from the file. */
  loaded?: number;
  /** Model weights the file lacked (left as initialised). */
  missing?: string[];
  /** `none`, `backbone` or the first trained layer's name. */
  freeze?: string;
}

const INITS = ["imagenet", "none", "file", "keras"];

type Fail = (key: string, what: string) => never;

/** `training.images.train` → `training`. */
const topKey = (key: string) => key.replace(/\..*$/s, "");

function object(v: unknown, key: string, fail: Fail): Record<string, unknown> {
  if (!v || typeof v !== "object" || Array.isArray(v)) fail(topKey(key), `${key} must be an object`);
  return v as Record<string, unknown>;
}

function check(ok: boolean, key: string, what: string, fail: Fail): void {
  if (!ok) fail(topKey(key), `${key} must be ${what}`);
}

const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const num = (v: unknown) => typeof v === "number" && Number.isFinite(v);
const str = (v: unknown) => typeof v === "string";
const optional = (ok: (v: unknown) => boolean) => (v: unknown) => v === undefined || ok(v);
const interval = (v: unknown) => v === null || (Array.isArray(v) && v.length === 2 && v.every(num));
const aurocOrNull = (v: unknown) => v === null || num(v);

function trainingRecord(v: unknown, fail: Fail): TrainingRecord {
  const t = object(v, "training", fail);
  const images = object(t.images, "training.images", fail);
  check(count(images.train) && count(images.val), "training.images", "{ train, val } image counts", fail);
  for (const k of ["epochs", "batchSize", "microBatch"]) {
    check(count(t[k]), `training.${k}`, "a non-negative integer", fail);
  }
  check(num(t.seconds), "training.seconds", "a number", fail);
  check(str(t.backend), "training.backend", "a string", fail);
  for (const k of ["source", "splitMethod"]) check(optional(str)(t[k]), `training.${k}`, "a string", fail);
  for (const k of ["lr", "seed"]) check(optional(num)(t[k]), `training.${k}`, "a number", fail);
  check(optional((b) => typeof b === "boolean")(t.weightedLoss), "training.weightedLoss", "a boolean", fail);
  return structuredClone(t) as unknown as TrainingRecord;
}

function evaluationRecord(v: unknown, fail: Fail): EvaluationRecord {
  const e = object(v, "evaluation", fail);
  check(str(e.partition), "evaluation.partition", "a string", fail);
  check(str(e.recordedAt), "evaluation.recordedAt", "a string", fail);
  check(count(e.images), "evaluation.images", "a non-negative integer", fail);
  for (const k of ["splitDigest", "engine"]) check(optional(str)(e[k]), `evaluation.${k}`, "a string", fail);
  const b = object(e.bootstrap, "evaluation.bootstrap", fail);
  const bootstrap = count(b.resamples) && num(b.confidence) && num(b.seed);
  check(bootstrap, "evaluation.bootstrap", "{ resamples, confidence, seed }", fail);
  for (const [name, c] of Object.entries(object(e.classes, "evaluation.classes", fail))) {
    const r = object(c, `evaluation.classes.${name}`, fail);
    const ok = aurocOrNull(r.auroc) && interval(r.ci) && count(r.positives) && count(r.negatives);
    check(ok, `evaluation.classes.${name}`, "{ auroc, ci, positives, negatives }", fail);
  }
  const m = object(e.mean, "evaluation.mean", fail);
  check(
    aurocOrNull(m.auroc) && interval(m.ci) && count(m.classes),
    "evaluation.mean",
    "{ auroc, ci, classes }",
    fail,
  );
  if (e.reference !== undefined) {
    const r = object(e.reference, "evaluation.reference", fail);
    const per = object(r.perClass, "evaluation.reference.perClass", fail);
    const ok = str(r.name) && str(r.source) && Object.values(per).every(num);
    check(ok, "evaluation.reference", "{ name, source, perClass: numbers }", fail);
  }
  return structuredClone(e) as unknown as EvaluationRecord;
}

function weightsProvenance(v: unknown, fail: Fail): WeightsProvenance {
  const w = object(v, "weights", fail);
  check(INITS.includes(w.init as string), "weights.init", `one of ${INITS.join(", ")}`, fail);
  for (const k of ["file", "md5", "url", "freeze"]) {
    check(optional(str)(w[k]), `weights.${k}`, "a string", fail);
  }
  check(optional(Number.isInteger)(w.loaded), "weights.loaded", "an integer", fail);
  const strings = (m: unknown) => Array.isArray(m) && m.every(str);
  check(optional(strings)(w.missing), "weights.missing", "an array of strings", fail);
  return { ...w } as unknown as WeightsProvenance;
}

/**
 * `metadata.json` is not valid JSON or lacks a field; `line`/`column` (1-based) point at the problem.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new BundleMetadataSyntaxError("bad", "metadata.json", 2, 5);
 * assert.ok(e instanceof SyntaxError);
 * assert.equal(e.line, 2);
 * ```
 */
export class BundleMetadataSyntaxError extends CxrSyntaxError {}

/**
 * Parses and validates `metadata.json` text.
 *
 * @throws {BundleMetadataSyntaxError} naming the file, line and column of invalid JSON or of a bad field.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => parseBundleMetadata('{"formatVersion": 1,\n "classNames": 3}', "metadata.json"),
 *   /Cannot read bundle metadata from "metadata.json" at line 2, column 2: classNames must be/,
 * );
 * ```
 */
export function parseBundleMetadata(text: string, file: string): BundleMetadata {
  let raw: Record<string, unknown> = {};
  const failAt = (at: number, what: string, cause?: unknown): never => {
    const { line, column } = lineColumn(text, at);
    throw new BundleMetadataSyntaxError(
      `Cannot read bundle metadata from "${file}" at line ${line}, column ${column}: ${what}`,
      file,
      line,
      column,
      { cause },
    );
  };
  const fail = (key: string | null, what: string, cause?: unknown): never =>
    failAt(key === null ? 0 : Math.max(0, text.indexOf(`"${key}"`)), what, cause);
  try {
    raw = JSON.parse(text);
  } catch (e) {
    failAt(jsonErrorOffset(text), (e as Error).message, e);
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) fail(null, "expected a JSON object");
  const int = (key: string) => {
    check(Number.isInteger(raw[key]) && (raw[key] as number) >= 1, key, "a positive integer", fail);
    return raw[key] as number;
  };
  const string = (key: string) => {
    check(str(raw[key]), key, "a string", fail);
    return raw[key] as string;
  };
  const formatVersion = int("formatVersion");
  if (formatVersion > BUNDLE_FORMAT_VERSION) {
    fail(
      "formatVersion",
      `formatVersion ${formatVersion} is newer than this code reads (${BUNDLE_FORMAT_VERSION})`,
    );
  }
  const classNames = raw.classNames;
  const namesOk = Array.isArray(classNames) && classNames.length > 0 && classNames.every(str);
  check(namesOk, "classNames", "a non-empty array of strings", fail);
  let normalization: Normalization | null = null;
  if (raw.normalization !== null) {
    try {
      normalization = checkNormalization(raw.normalization as Normalization);
    } catch (e) {
      fail("normalization", `normalization is invalid: ${(e as Error).message}`, e);
    }
  }
  const metrics = object(raw.metrics, "metrics", fail);
  for (const [k, v] of Object.entries(metrics)) {
    check(typeof v === "number", `metrics.${k}`, "a number", fail);
  }
  check(raw.splitDigest === null || str(raw.splitDigest), "splitDigest", "a string or null", fail);
  return {
    formatVersion,
    classNames: [...classNames as string[]],
    inputSize: int("inputSize"),
    channels: int("channels"),
    normalization,
    modelVersion: string("modelVersion"),
    createdAt: string("createdAt"),
    architecture: object(raw.architecture, "architecture", fail),
    metrics: metrics as Record<string, number>,
    splitDigest: (raw.splitDigest ?? null) as string | null,
    ...(raw.weights === undefined ? {} : { weights: weightsProvenance(raw.weights, fail) }),
    ...(raw.training === undefined ? {} : { training: trainingRecord(raw.training, fail) }),
    ...(raw.evaluation === undefined ? {} : { evaluation: evaluationRecord(raw.evaluation, fail) }),
  };
}
