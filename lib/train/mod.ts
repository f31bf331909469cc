/**
 * The training step: the data loader over the preprocessed cache, the (optionally class-weighted) loss,
 * the learning-rate schedule and early stopping, checkpoints with resume, the history with its live display,
 * and {@linkcode train} tying them together (AUROC comes from the ground floor, `lib/auroc.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkpointName } from "./mod.ts";
 * assert.equal(checkpointName(1, 0.5), "epoch-001-val-0.5000");
 * ```
 *
 * @module
 */
export * from "./loader.ts";
export * from "./loss.ts";
export * from "./schedule.ts";
export * from "./events.ts";
export * from "./history.ts";
export * from "./checkpoint.ts";
export * from "./fit.ts";
export * from "./step.ts";
export * from "./parallel.ts";
export * from "./optimizer.ts";
export * from "./init.ts";
export * from "./errors.ts";
