/**
 * The evaluation step: metrics of a trained model on a partition.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rocCurve } from "./mod.ts";
 * assert.deepEqual(rocCurve([1, 2, 3], [0, 1, 1])!.tpr.at(-1), 1);
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./heatmap.ts";
export * from "./bootstrap.ts";
export * from "./roc.ts";
export * from "./reference.ts";
export * from "./evaluate.ts";
export * from "./evaluation_report.ts";
export * from "./scores_format.ts";
export * from "./scores_csv.ts";
export * from "./scores_merge.ts";
export * from "./scores_file.ts";
export * from "./scores_labels.ts";
export * from "./scores_evaluation.ts";
export * from "./gradcam.ts";
export * from "./localization.ts";
export * from "./explain.ts";
export * from "./gallery.ts";
