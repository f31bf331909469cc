/**
 * {@linkcode TrainError}, which every training failure extends (each class lives beside the code that throws
 * it), and {@linkcode HistorySyntaxError} for an unreadable `history.jsonl`.
 *
 * @module
 */
import { CxrError, CxrSyntaxError } from "../errors.ts";

/**
 * Base of every training failure (a checkpoint that cannot be used, a gradient worker that failed, a starting
 * weights file that cannot be read).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CxrError } from "../errors.ts";
 * import { CheckpointError } from "./checkpoint.ts";
 * const e = new CheckpointError("Cannot read checkpoint", "run/checkpoints/epoch-001-val-0.5000");
 * assert.ok(e instanceof TrainError && e instanceof CxrError);
 * assert.equal(e.name, "CheckpointError");
 * ```
 */
export class TrainError extends CxrError {}

/**
 * A line of `history.jsonl` that is not JSON: `file`, and the 1-based `line` (`column` 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new HistorySyntaxError('Cannot read history "h.jsonl" at line 2, column 1: bad', "h.jsonl", 2, 1);
 * assert.ok(e instanceof SyntaxError);
 * assert.deepEqual([e.name, e.file, e.line], ["HistorySyntaxError", "h.jsonl", 2]);
 * ```
 */
export class HistorySyntaxError extends CxrSyntaxError {}
