/**
 * Retries with exponential backoff and jitter for transient storage failures.
 *
 * @module
 */

/** Options of {@linkcode withRetry}. */
export interface RetryOptions {
  /** Attempts in all, the first included. @default 4 */
  attempts?: number;
  /** Delay before the second attempt; doubles each time. @default 200 */
  baseDelayMs?: number;
  /** Longest delay between attempts. @default 5000 */
  maxDelayMs?: number;
  /** Whether an error is worth another attempt. @default isTransientError */
  isRetryable?: (error: unknown) => boolean;
  /** Called before each new attempt. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops waiting and retrying. */
  signal?: AbortSignal;
}

const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ECONNABORTED",
  "ESOCKETTIMEDOUT",
  "UND_ERR_SOCKET",
  "ServerBusy",
  "OperationTimedOut",
  "InternalError",
]);

/**
 * Whether an error from the storage SDK or the network is transient (HTTP 408/429/5xx, reset or timed-out
 * connections). Connection refused and unknown hosts are not: they fail fast.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(isTransientError({ statusCode: 503 }), true);
 * assert.equal(isTransientError({ code: "ECONNRESET" }), true);
 * assert.equal(isTransientError({ code: "ECONNREFUSED" }), false);
 * assert.equal(isTransientError({ statusCode: 403 }), false);
 * ```
 */
export function isTransientError(error: unknown): boolean {
  const e = error as { statusCode?: number; code?: string; name?: string } | undefined;
  if (!e || typeof e !== "object") return false;
  if (typeof e.statusCode === "number" && TRANSIENT_STATUS.has(e.statusCode)) return true;
  return typeof e.code === "string" && TRANSIENT_CODES.has(e.code);
}

/**
 * Runs `fn` until it succeeds, the error is not retryable, or the attempts are used up; waits
 * `min(maxDelayMs, baseDelayMs * 2^n)` scaled by a random factor in [0.5, 1] between attempts.
 *
 * @throws the last error.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * let calls = 0;
 * const v = await withRetry(() => {
 *   if (++calls < 3) throw Object.assign(new Error("busy"), { statusCode: 503 });
 *   return Promise.resolve("ok");
 * }, { baseDelayMs: 1 });
 * assert.equal(v, "ok");
 * assert.equal(calls, 3);
 * await assert.rejects(withRetry(() => Promise.reject(new Error("bad")), { baseDelayMs: 1 }), /bad/);
 * ```
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 4;
  if (!Number.isInteger(attempts) || attempts < 1) {
    throw new RangeError(`withRetry: attempts must be an integer >= 1, got ${attempts}`);
  }
  const base = options.baseDelayMs ?? 200;
  const max = options.maxDelayMs ?? 5000;
  const retryable = options.isRetryable ?? isTransientError;
  for (let attempt = 1;; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= attempts || !retryable(error) || options.signal?.aborted) throw error;
      const delay = Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      options.onRetry?.(error, attempt, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
