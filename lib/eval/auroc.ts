/**
 * Exact per-class ROC AUC (Mann–Whitney, ties one half; equal to scikit-learn's `roc_auc_score`). The
 * implementation sits in `lib/train/auroc.ts` because training validates with it every epoch and a step may
 * only import earlier steps; evaluation uses the very same function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { perClassAuroc } from "./auroc.ts";
 * assert.equal(perClassAuroc([0.2, 0.8, 0.5], [0, 1, 0], ["Mass"]).perClass.Mass, 1);
 * ```
 *
 * @module
 */
export { type AurocTable, perClassAuroc, rocAuc } from "../train/auroc.ts";
