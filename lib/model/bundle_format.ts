/**
 * The model bundle's `metadata.json`: its wire type and the one validating parse function.
 *
 * @module
 */
import { checkNormalization, Normalization } from "./normalize.ts";
import { jsonErrorPosition, lineColumn } from "../json_position.ts";

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

const _INITS = ["imagenet", "none", "file", "keras"];

function _weightsProvenance(v: unknown, fail: (key: string, what: string) => never): WeightsProvenance {
  if (!v || typeof v !== "object" || Array.isArray(v)) fail("weights", "weights must be an object");
  const w = v as Record<string, unknown>;
  if (!_INITS.includes(w.init as string)) fail("weights", `weights.init must be one of ${_INITS.join(", ")}`);
  for (const k of ["file", "md5", "url", "freeze"]) {
    if (w[k] !== undefined && typeof w[k] !== "string") fail("weights", `weights.${k} must be a string`);
  }
  if (w.loaded !== undefined && !Number.isInteger(w.loaded)) {
    fail("weights", "weights.loaded must be an integer");
  }
  if (
    w.missing !== undefined && !(Array.isArray(w.missing) && w.missing.every((m) => typeof m === "string"))
  ) {
    fail("weights", "weights.missing must be an array of strings");
  }
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
export class BundleMetadataSyntaxError extends SyntaxError {
  /** The file parsed. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
  constructor(message: string, file: string, line: number, column: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "BundleMetadataSyntaxError";
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

/**
 * Parses and validates `metadata.json` text.
 *
 * @param text the file's content.
 * @param file the file name used in error messages.
 * @returns the metadata.
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
  let raw: Record<string, unknown>;
  const fail = (key: string | null, what: string, cause?: unknown): never => {
    const at = key === null ? 0 : Math.max(0, text.indexOf(`"${key}"`));
    const { line, column } = lineColumn(text, at);
    throw new BundleMetadataSyntaxError(
      `Cannot read bundle metadata from "${file}" at line ${line}, column ${column}: ${what}`,
      file,
      line,
      column,
      { cause },
    );
  };
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const message = (e as Error).message;
    const { line, column } = jsonErrorPosition(text);
    throw new BundleMetadataSyntaxError(
      `Cannot read bundle metadata from "${file}" at line ${line}, column ${column}: ${message}`,
      file,
      line,
      column,
      { cause: e },
    );
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) fail(null, "expected a JSON object");
  const int = (key: string) => {
    const v = raw[key];
    if (!Number.isInteger(v) || (v as number) < 1) fail(key, `${key} must be a positive integer`);
    return v as number;
  };
  const str = (key: string) => {
    if (typeof raw[key] !== "string") fail(key, `${key} must be a string`);
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
  if (
    !Array.isArray(classNames) || classNames.length === 0 || !classNames.every((c) => typeof c === "string")
  ) {
    fail("classNames", "classNames must be a non-empty array of strings");
  }
  let normalization: Normalization | null = null;
  if (raw.normalization !== null) {
    try {
      normalization = checkNormalization(raw.normalization as Normalization);
    } catch (e) {
      fail("normalization", `normalization is invalid: ${(e as Error).message}`, e);
    }
  }
  const record = (key: string) => {
    const v = raw[key];
    if (!v || typeof v !== "object" || Array.isArray(v)) fail(key, `${key} must be an object`);
    return v as Record<string, unknown>;
  };
  const metrics = record("metrics");
  for (const [k, v] of Object.entries(metrics)) {
    if (typeof v !== "number") fail("metrics", `metrics.${k} must be a number`);
  }
  if (raw.splitDigest !== null && typeof raw.splitDigest !== "string") {
    fail("splitDigest", "splitDigest must be a string or null");
  }
  return {
    formatVersion,
    classNames: [...classNames as string[]],
    inputSize: int("inputSize"),
    channels: int("channels"),
    normalization,
    modelVersion: str("modelVersion"),
    createdAt: str("createdAt"),
    architecture: record("architecture"),
    metrics: metrics as Record<string, number>,
    splitDigest: (raw.splitDigest ?? null) as string | null,
    ...(raw.weights === undefined ? {} : { weights: _weightsProvenance(raw.weights, fail) }),
  };
}
