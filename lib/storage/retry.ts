/**
 * Retries with exponential backoff and jitter for transient storage failures, and a stall timeout for each
 * try ({@linkcode withTryTimeout}), so a server that accepts connections but never answers cannot hang a
 * transfer.
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

/** What one try of a request gets from {@linkcode withTryTimeout}: hand both to the storage SDK's call. */
export interface TryContext {
  /** Aborted when the try has gone `ms` without progress; pass it as the SDK call's `abortSignal`. */
  abortSignal: AbortSignal;
  /** Resets the clock; pass it as the SDK call's `onProgress` (and call it for every chunk received). */
  onProgress: () => void;
}

/**
 * One try of a request gave up: nothing was answered, sent or received for `ms` milliseconds. Its `code` is
 * `ETIMEDOUT`, so {@linkcode isTransientError} counts it as transient and {@linkcode withRetry} tries again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new TryTimeoutError(2000);
 * assert.equal(e.code, "ETIMEDOUT");
 * assert.equal(isTransientError(e), true);
 * ```
 */
export class TryTimeoutError extends Error {
  /** Always `ETIMEDOUT`. */
  code = "ETIMEDOUT";
  /** The stall limit of the try, in milliseconds. */
  ms: number;
  constructor(ms: number) {
    super(`no answer and no bytes moved for ${ms} ms`);
    this.name = "TryTimeoutError";
    this.ms = ms;
  }
}

/**
 * Runs one try of a request under a stall timeout: `fn` gets an AbortSignal and a progress callback; when
 * `ms` pass with no progress reported and no result, the signal is aborted and the try rejects with
 * {@linkcode TryTimeoutError} at once, whether or not `fn` honours the signal. A transfer that keeps moving
 * bytes is never cut off, however long it takes; a server that accepts a connection and never answers is.
 *
 * @param fn the try; pass `abortSignal` and `onProgress` on to the SDK call.
 * @param ms the stall limit in milliseconds (> 0).
 * @returns what `fn` returns.
 * @throws {TryTimeoutError} after `ms` without progress; {@link RangeError} for a bad `ms`; else what `fn` throws.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(await withTryTimeout(() => Promise.resolve(7), 1000), 7);
 * const never = ({ abortSignal }: TryContext) => new Promise<never>((_, reject) => abortSignal.addEventListener("abort", () => reject(new Error("aborted"))));
 * await assert.rejects(withTryTimeout(never, 10), TryTimeoutError);
 * await assert.rejects(withTryTimeout(() => new Promise(() => {}), 10), /no answer and no bytes moved for 10 ms/);
 * ```
 */
export async function withTryTimeout<T>(fn: (t: TryContext) => Promise<T>, ms: number): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new RangeError(`withTryTimeout: ms must be a positive number, got ${ms}`);
  }
  const controller = new AbortController();
  const { promise: stalled, reject } = Promise.withResolvers<never>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let settled: Promise<void> = Promise.resolve();
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const e = new TryTimeoutError(ms);
      controller.abort(e);
      // Let a try that honours the signal clean up (temp files, sockets) before the caller moves on,
      // but never wait long for one that does not.
      let grace: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([settled, new Promise((r) => grace = setTimeout(r, TRY_ABORT_GRACE_MS))]);
      clearTimeout(grace);
      reject(e);
    }, ms);
  };
  const context: TryContext = {
    abortSignal: controller.signal,
    onProgress: () => {
      if (!controller.signal.aborted) arm();
    },
  };
  arm();
  const work = Promise.resolve().then(() => fn(context));
  settled = work.then(() => {}, () => {}); // also keeps an abandoned try's late rejection handled
  try {
    return await Promise.race([work, stalled]);
  } catch (e) {
    throw controller.signal.aborted ? controller.signal.reason : e; // the timeout, not the SDK's AbortError
  } finally {
    clearTimeout(timer);
  }
}

/** How long a timed-out try may take to wind down after its signal is aborted. */
const TRY_ABORT_GRACE_MS = 1000;
