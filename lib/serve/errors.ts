/**
 * The base of the serve step's errors. Each failure keeps its class beside the code that throws it
 * (`ScoreHttpError` and `ScoringServiceError` in score_format.ts, `QueueFullError` and `BudgetFullError` in
 * limiter.ts, `ScoringUnreachableError` in client.ts); all of them extend {@linkcode ServeError}, and the
 * request/response parse error (`ScoreFormatError`) extends `CxrSyntaxError`.
 *
 * @module
 */
import { CxrError } from "../errors.ts";

/**
 * Base of every serve-step failure (a refused request, a busy service, an unreachable or failing service).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CxrError } from "../errors.ts";
 * import { ScoreHttpError } from "./score_format.ts";
 * const e = new ScoreHttpError("The key is wrong", 401, "unauthorized");
 * assert.ok(e instanceof ServeError && e instanceof CxrError);
 * assert.equal(e.name, "ScoreHttpError");
 * assert.equal(e.status, 401);
 * ```
 */
export class ServeError extends CxrError {}
