/**
 * The evaluation step's failures: {@linkcode EvalError} is the base of all of them (a kind of
 * {@linkcode CxrError}); unparseable scores files are a `ScoresFileError` (a `SyntaxError`, in
 * `scores_format.ts`).
 *
 * @module
 */
import { CxrError } from "../errors.ts";

/**
 * Base of the evaluation step's errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new EvaluationInputError('Cannot evaluate: partition "test" of "cache" has no images');
 * assert.ok(e instanceof EvalError);
 * assert.equal(e.name, "EvaluationInputError");
 * ```
 */
export class EvalError extends CxrError {}

/** The inputs do not fit together (cache and model, scores and labels) or hold nothing to evaluate. */
export class EvaluationInputError extends EvalError {}

/** The predictor gives no class activation maps (its model has no pooling + dense head). */
export class NoActivationMapError extends EvalError {}

/**
 * Parts that do not fit together: one image with different scores in two places, several model versions,
 * shards of runs with different shard counts, or a shard index out of range. `sources` names the places.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new ScoresConflictError("two versions", ["a.jsonl:1", "b.jsonl:1"]);
 * assert.equal(e.name, "ScoresConflictError");
 * assert.deepEqual(e.sources, ["a.jsonl:1", "b.jsonl:1"]);
 * ```
 */
export class ScoresConflictError extends EvalError {
  /** @param sources The places involved (`file:line`, file or blob names). */
  constructor(message: string, readonly sources: string[], options?: ErrorOptions) {
    super(message, options);
  }
}
