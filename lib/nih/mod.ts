/**
 * The NIH ChestX-ray14 data set: the 14 findings, the label and box files in every variant found in the wild,
 * blacklists, reproducible patient-wise splits, label statistics, the 12 image archives (resumable, verified
 * download and streaming extraction) and a synthetic stand-in in the same layout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FINDINGS, parseFindingLabels } from "./mod.ts";
 * assert.equal(FINDINGS.length, 14);
 * assert.deepEqual([...parseFindingLabels("Effusion|Hernia")].flatMap((v, i) => v ? [FINDINGS[i]] : []), [
 *   "Effusion",
 *   "Hernia",
 * ]);
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./classes.ts";
export * from "./entries.ts";
export * from "./bbox.ts";
export * from "./blacklist.ts";
export * from "./mt19937.ts";
export * from "./split.ts";
export * from "./split_file.ts";
export * from "./split_present.ts";
export * from "./labels.ts";
export * from "./archives.ts";
export * from "./download.ts";
export * from "./tar.ts";
export * from "./extract.ts";
export * from "./fetch.ts";
export * from "./synth.ts";
export * from "./sample_grid.ts";
export * from "./dataset.ts";
