/**
 * Evaluating a model on a partition of the preprocessed cache: every image scored through a
 * {@linkcode Predictor} (tfjs or ONNX Runtime), exact per-class AUROC, seeded bootstrap intervals, ROC curves,
 * and the published references beside them.
 *
 * @module
 */
import { openCache } from "../images/mod.ts";
import { Progress } from "../progress.ts";
import {
  type BundleMetadata,
  classDifferences,
  type EvaluationRecord,
  LabelMismatchError,
  type Predictor,
  updateBundleMetadata,
} from "../model/mod.ts";
import { perClassAuroc } from "../auroc.ts";
import { bootstrapAuroc } from "./bootstrap.ts";
import { EvaluationInputError } from "./errors.ts";
import { CHEXNET_AUROC, REFERENCE_AUROC } from "./reference.ts";
import { type RocCurve, rocCurve } from "./roc.ts";
import {
  type ClassMetrics,
  EVALUATION_FORMAT,
  type EvaluationJson,
  EvaluationReport,
} from "./evaluation_report.ts";

/** Progress of {@linkcode evaluate}: `done` of the partition's `total` images scored. */
export interface EvaluateProgress {
  type: "batch";
  done: number;
  total: number;
}

/** Options of {@linkcode evaluate}. */
export interface EvaluateOptions {
  /** Cache partition to score. @default "test" */
  partition?: string;
  /** Images per `predict` call. @default 16 */
  batchSize?: number;
  /** Bootstrap resamples for the intervals; 0 for none. @default 1000 */
  bootstrap?: number;
  /** Bootstrap seed. @default 0 */
  seed?: number;
  /** Called once with `done: 0` before the first batch, then after each batch. */
  onProgress?: (event: EvaluateProgress) => void;
  /** Also draw a progress display (a bar on a terminal, a live line in Jupyter). @default false */
  progress?: boolean;
}

/**
 * Metrics from scores and labels already in memory (what {@linkcode evaluate} does after scoring).
 *
 * @param scores `n * classes.length` probabilities, row-major.
 * @param labels `n * classes.length` 0/1 labels.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const r = evaluateScores([0.9, 0.2, 0.1, 0.3, 0.8, 0.4], [1, 0, 0, 0, 1, 0], ["Mass", "Hernia"], { bootstrap: 50 });
 * const { Mass, Hernia } = r.json.classes;
 * assert.equal(Mass?.auroc, 1);
 * assert.equal(Hernia?.auroc, null);
 * assert.equal(r.json.mean.auroc, 1);
 * assert.deepEqual([Mass?.positives, Mass?.negatives], [2, 1]);
 * ```
 */
export function evaluateScores(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: readonly string[],
  options: {
    bootstrap?: number | undefined;
    seed?: number | undefined;
    partition?: string;
    model?: EvaluationJson["model"];
  } = {},
): EvaluationReport {
  const table = perClassAuroc(scores, labels, classes);
  const resamples = options.bootstrap ?? 1000;
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(resamples) || resamples < 0) {
    throw new RangeError(`evaluate: bootstrap must be an integer >= 0, got ${resamples}`);
  }
  const boot = resamples > 0 ? bootstrapAuroc(scores, labels, classes, { resamples, seed }) : null;
  const n = scores.length / classes.length;
  const curves: Record<string, RocCurve | null> = {};
  const perClass: Record<string, ClassMetrics> = {};
  classes.forEach((name, k) => {
    const s = new Float64Array(n), l = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = scores[i * classes.length + k]!;
      l[i] = labels[i * classes.length + k]!;
    }
    curves[name] = rocCurve(s, l);
    const positives = table.positives[name] ?? 0;
    perClass[name] = {
      auroc: table.perClass[name] ?? null,
      ci: boot?.perClass[name] ?? null,
      positives,
      negatives: n - positives,
    };
  });
  const json: EvaluationJson = {
    format: EVALUATION_FORMAT,
    model: options.model ?? { version: "unknown", engine: "unknown" },
    partition: options.partition ?? "test",
    images: n,
    classes: perClass,
    mean: {
      auroc: table.mean,
      ci: boot?.mean ?? null,
      classes: Object.values(table.perClass).filter((v) => v !== null).length,
    },
    bootstrap: { resamples, confidence: boot?.confidence ?? 0.95, seed },
    references: REFERENCE_AUROC.map((r) => ({ ...r, perClass: { ...r.perClass } })),
  };
  return new EvaluationReport(json, curves);
}

/**
 * Scores every image of a cache partition with `predictor` and computes the metrics.
 *
 * @param predictor An open predictor (`openPredictor(bundleDir)`); not disposed here.
 * @param cacheDir The `cxr-cache/1` folder (`deno task cxr preprocess`).
 * @throws {LabelMismatchError} If the bundle's class names differ from the cache's.
 * @throws {EvaluationInputError} If the cache's image size differs from the model's input, or it is empty.
 * @throws {CacheError} If the partition is missing.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileSync } from "node:fs";
 * import { createDenseNet, selectBackend, tfjsPredictor } from "../model/mod.ts";
 * import { FINDINGS } from "../nih/mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync();
 * writeFileSync(`${dir}/test.bin`, new Uint8Array(2 * 16 * 16).fill(7));
 * writeFileSync(`${dir}/test.json`, JSON.stringify({ format: "cxr-cache/1", partition: "test", size: 16, count: 2,
 *   classes: FINDINGS, names: ["00000001_000.png", "00000002_000.png"], labels: ["10000000000000", "00000000000000"],
 *   splitDigest: "d", failed: [] }));
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const meta = { formatVersion: 1, classNames: [...FINDINGS], inputSize: 16, channels: 1, normalization: null,
 *   modelVersion: "v1", createdAt: "", architecture: {}, metrics: {}, splitDigest: null };
 * const report = await evaluate(tfjsPredictor(model, meta), dir, { bootstrap: 10 });
 * assert.equal(report.json.images, 2);
 * assert.equal(report.json.classes.Atelectasis?.auroc, 0.5); // equal images, equal scores: ties
 * assert.equal(report.json.classes.Hernia?.auroc, null);
 * model.dispose();
 * ```
 */
export async function evaluate(
  predictor: Predictor,
  cacheDir: string,
  options: EvaluateOptions = {},
): Promise<EvaluationReport> {
  const partition = options.partition ?? "test";
  const batchSize = options.batchSize ?? 16;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`evaluate: batchSize must be a positive integer, got ${batchSize}`);
  }
  using cache = openCache(cacheDir, partition);
  const meta = predictor.metadata;
  const differences = classDifferences(meta.classNames, cache.classes);
  if (differences.length > 0) {
    throw new LabelMismatchError(
      `Cannot evaluate: the model's class names differ from cache "${cacheDir}" (${differences.join("; ")})`,
      differences,
    );
  }
  if (cache.size !== meta.inputSize) {
    throw new EvaluationInputError(
      `Cannot evaluate: cache "${cacheDir}" holds ${cache.size}x${cache.size} images but the model takes ` +
        `${meta.inputSize}x${meta.inputSize} (rebuild the cache with --size ${meta.inputSize})`,
    );
  }
  if (cache.count === 0) {
    throw new EvaluationInputError(
      `Cannot evaluate: partition "${partition}" of "${cacheDir}" has no images`,
    );
  }
  const classes = meta.classNames.length;
  const scores = new Float32Array(cache.count * classes);
  const pixels = new Uint8Array(batchSize * cache.size * cache.size);
  const bar = options.progress
    ? new Progress({ label: `evaluate ${partition}`, total: cache.count })
    : undefined;
  const report = (event: EvaluateProgress) => {
    bar?.update(event.done);
    options.onProgress?.(event);
  };
  report({ type: "batch", done: 0, total: cache.count });
  for (let start = 0; start < cache.count; start += batchSize) {
    const n = Math.min(batchSize, cache.count - start);
    const indices = Array.from({ length: n }, (_, k) => start + k);
    const batch = cache.readBatch(indices, pixels).subarray(0, n * cache.size * cache.size);
    const { probabilities } = await predictor.predict(batch, n);
    scores.set(probabilities.subarray(0, n * classes), start * classes);
    report({ type: "batch", done: start + n, total: cache.count });
  }
  bar?.finish();
  return evaluateScores(scores, cache.labels, meta.classNames, {
    bootstrap: options.bootstrap,
    seed: options.seed,
    partition,
    model: { version: meta.modelVersion, engine: predictor.engine },
  });
}

/** Options of {@linkcode evaluationRecord} and {@linkcode recordEvaluation}. */
export interface EvaluationRecordOptions {
  /** Digest of the split the evaluated cache was built from (its index's `splitDigest`). @default not recorded */
  splitDigest?: string;
  /** Time recorded. @default now */
  recordedAt?: Date;
}

/**
 * The record a bundle's metadata keeps of an evaluation: partition, images, per-class AUROC with intervals,
 * the mean, and CheXNet's published values to show beside them on the model card.
 *
 * @param json the metrics document of {@linkcode evaluate} (`report.json`).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const r = evaluateScores([0.9, 0.1, 0.2, 0.8], [1, 0, 0, 1], ["Mass", "Hernia"], { bootstrap: 20 });
 * const record = evaluationRecord(r.json, { splitDigest: "ab12" });
 * assert.equal(record.classes.Mass?.auroc, 1);
 * assert.equal(record.reference?.name, "CheXNet");
 * assert.deepEqual(Object.keys(record.reference!.perClass), ["Mass", "Hernia"]);
 * ```
 */
export function evaluationRecord(
  json: EvaluationJson,
  options: EvaluationRecordOptions = {},
): EvaluationRecord {
  const { perClass, ...reference } = CHEXNET_AUROC;
  const published = Object.keys(json.classes).filter((n) => perClass[n] !== undefined);
  return {
    partition: json.partition,
    images: json.images,
    recordedAt: (options.recordedAt ?? new Date()).toISOString(),
    ...(options.splitDigest ? { splitDigest: options.splitDigest } : {}),
    ...(json.model.engine !== "unknown" ? { engine: json.model.engine } : {}),
    bootstrap: { ...json.bootstrap },
    classes: structuredClone(json.classes),
    mean: structuredClone(json.mean),
    reference: {
      ...reference,
      perClass: Object.fromEntries(published.map((n) => [n, perClass[n]!])),
    },
  };
}

/**
 * Records an evaluation in a bundle: its metadata gains `evaluation` (replacing an earlier one) and
 * `MODEL_CARD.md` is rendered again, each file replaced atomically; the weights are not touched.
 *
 * @param bundleDir the bundle that was evaluated.
 * @param json the metrics document of {@linkcode evaluate}; its model version must be the bundle's.
 * @returns the bundle's new metadata.
 * @throws {BundleReadOnlyError} when the bundle folder is read-only (nothing changed).
 * @throws {RangeError} when `json` is another model's (version or class names differ).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readFileSync } from "node:fs";
 * import { createDenseNet, saveBundle } from "../model/mod.ts";
 * import { FINDINGS } from "../nih/mod.ts";
 * const dir = Deno.makeTempDirSync() + "/b";
 * await saveBundle(createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 }), dir, { modelVersion: "v1" });
 * // Two images: the first has every finding and scores 0.9, the second none and scores 0.1.
 * const scores = [...Array(14).fill(0.9), ...Array(14).fill(0.1)];
 * const labels = [...Array(14).fill(1), ...Array(14).fill(0)];
 * const r = evaluateScores(scores, labels, FINDINGS, { bootstrap: 0, model: { version: "v1", engine: "tfjs" } });
 * const meta = await recordEvaluation(dir, r.json);
 * assert.equal(meta.evaluation?.images, 2);
 * assert.match(readFileSync(`${dir}/MODEL_CARD.md`, "utf8"), /\| Cardiomegaly \| 1\.000 \| — \| 1 \| 1 \| 0\.925 \|/);
 * ```
 */
export async function recordEvaluation(
  bundleDir: string,
  json: EvaluationJson,
  options: EvaluationRecordOptions = {},
): Promise<BundleMetadata> {
  const record = evaluationRecord(json, options);
  return await updateBundleMetadata(bundleDir, (meta) => {
    if (json.model.version !== meta.modelVersion) {
      throw new RangeError(
        `recordEvaluation: the metrics are of model "${json.model.version}", the bundle "${bundleDir}" is "${meta.modelVersion}"`,
      );
    }
    const differences = classDifferences(meta.classNames, Object.keys(json.classes));
    if (differences.length) {
      throw new RangeError(
        `recordEvaluation: class names differ from the bundle's: ${differences.join("; ")}`,
      );
    }
    return { ...meta, evaluation: record };
  });
}
