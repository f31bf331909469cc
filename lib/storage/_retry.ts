/**
 * How the store runs each SDK call: retries with exponential backoff and jitter for transient failures
 * ({@linkcode withRetry}), a stall timeout for each try ({@linkcode withTryTimeout}), so a server that accepts
 * connections but never answers cannot hang a transfer, and the mapping of what failed to a
 * {@linkcode StorageError} subclass ({@linkcode toStorageError}).
 *
 * @module
 */
import type { RetryOptions } from "./blob_store.ts";
import {
  BlobNotFoundError,
  ContainerNotFoundError,
  StorageAuthError,
  StorageError,
  StoragePermissionError,
  StorageTimeoutError,
  StorageUnreachableError,
} from "./errors.ts";

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
  for (let attempt = 1;; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= attempts || !isTransientError(error)) throw error;
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
 * `ETIMEDOUT`, so {@linkcode isTransientError} counts it as transient and {@linkcode withRetry} tries again;
 * {@linkcode toStorageError} turns it into a {@linkcode StorageTimeoutError} that names the endpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new TryTimeoutError("no answer and no bytes moved for 2000 ms", 2000);
 * assert.equal(e.code, "ETIMEDOUT");
 * assert.equal(isTransientError(e), true);
 * ```
 */
export class TryTimeoutError extends StorageError {
  /**
   * @param ms The stall limit of the try, in milliseconds.
   */
  constructor(message: string, readonly ms: number, options?: ErrorOptions) {
    super(message, "ETIMEDOUT", undefined, options);
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
      const e = new TryTimeoutError(`no answer and no bytes moved for ${ms} ms`, ms);
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

/** Where an operation was aimed, for messages. */
export interface StorageErrorContext {
  account: string;
  /** Blob service endpoint, e.g. `http://127.0.0.1:10000/devstoreaccount1`. */
  endpoint: string;
  /** Container, when the operation had one. */
  container?: string;
  /** Blob name, when the operation had one. */
  name?: string;
  /** Tries made before giving up, for the message of a timeout. @default 1 */
  tries?: number;
}

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

/** The endpoint's `host:port`, and the endpoint without any query (a SAS) or user info, for messages. */
function describeEndpoint(endpoint: string): { hostPort: string; url: string } {
  try {
    const u = new URL(endpoint);
    return {
      hostPort: `${u.hostname}:${u.port || (u.protocol === "https:" ? 443 : 80)}`,
      url: `${u.protocol}//${u.host}${u.pathname.replace(/\/$/, "")}`,
    };
  } catch {
    return { hostPort: "(invalid endpoint)", url: "(invalid endpoint)" };
  }
}

/**
 * Maps an error from `@azure/storage-blob` to a {@linkcode StorageError} subclass with a clear, redacted
 * message. Storage errors pass through unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StorageTimeoutError, StorageUnreachableError } from "./errors.ts";
 * const ctx = { account: "devstoreaccount1", endpoint: "http://127.0.0.1:9/devstoreaccount1" };
 * const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
 * const e = toStorageError(refused, ctx);
 * assert.ok(e instanceof StorageUnreachableError);
 * assert.match(e.message, /127\.0\.0\.1:9 \(connection refused\)/);
 * const denied = Object.assign(new Error("Server failed to authenticate"), { statusCode: 403, code: "AuthorizationFailure" });
 * assert.match(toStorageError(denied, ctx).message, /authentication failed for account "devstoreaccount1"/);
 * const stalled = toStorageError(new TryTimeoutError("no answer for 2000 ms", 2000), { ...ctx, container: "nih-images", tries: 4 });
 * assert.ok(stalled instanceof StorageTimeoutError);
 * assert.match(stalled.message, /^Blob storage at http:\/\/127\.0\.0\.1:9\/devstoreaccount1 did not answer for "nih-images": each of 4 tries gave up after 2 s/);
 * ```
 */
export function toStorageError(error: unknown, ctx: StorageErrorContext): StorageError {
  if (error instanceof StorageError && !(error instanceof TryTimeoutError)) return error;
  const e = error as { message?: string; code?: string; statusCode?: number; name?: string };
  const code = typeof e?.code === "string" ? e.code : undefined;
  const status = typeof e?.statusCode === "number" ? e.statusCode : undefined;
  const fields = [code, status, { cause: error }] as const;
  const where = ctx.container ? `"${ctx.container}${ctx.name ? `/${ctx.name}` : ""}"` : "";
  const forWhere = where ? ` for ${where}` : "";
  const { hostPort, url } = describeEndpoint(ctx.endpoint);
  if (code && UNREACHABLE.has(code)) {
    const why = code === "ECONNREFUSED" ? "connection refused" : `host not found or unreachable: ${code}`;
    return new StorageUnreachableError(`Cannot reach blob storage at ${hostPort} (${why})`, ...fields);
  }
  if (error instanceof TryTimeoutError) {
    const tries = ctx.tries ?? 1;
    const each = tries === 1 ? "the try" : `each of ${tries} tries`;
    const { ms } = error;
    const after = ms >= 1000 ? `${Number((ms / 1000).toFixed(1))} s` : `${ms} ms`;
    return new StorageTimeoutError(
      `Blob storage at ${url} did not answer${forWhere}: ${each} gave up after ${after} without an answer ` +
        "or a byte moved (CXR_STORAGE_TIMEOUT_MS); check that this endpoint is reachable and is a blob service",
      ...fields,
    );
  }
  if (code === "ETIMEDOUT" || e?.name === "TimeoutError") {
    return new StorageTimeoutError(`Blob storage at ${url} timed out`, ...fields);
  }
  if (status === 403 && /Permission|NotAuthorized|Mismatch/i.test(code ?? "")) {
    const what = where || `account "${ctx.account}"`;
    return new StoragePermissionError(
      `Permission denied for ${what}: the credential does not allow this operation (${code})`,
      ...fields,
    );
  }
  if (status === 403 || status === 401) {
    return new StorageAuthError(
      `Storage authentication failed for account "${ctx.account}" at ${hostPort}: ` +
        `the key, SAS or token was refused (${code ?? status})`,
      ...fields,
    );
  }
  if (code === "ContainerNotFound" || (status === 404 && ctx.container && !ctx.name)) {
    const message = `Container "${ctx.container}" does not exist in account "${ctx.account}"`;
    return new ContainerNotFoundError(message, ...fields);
  }
  if (code === "BlobNotFound" || status === 404) {
    return new BlobNotFoundError(`Blob ${where} does not exist in account "${ctx.account}"`, ...fields);
  }
  const [detail] = String(e?.message ?? error).split("\n");
  const http = status ? ` (HTTP ${status}${code ? ` ${code}` : ""})` : "";
  return new StorageError(`Storage request${forWhere} failed${http}: ${detail}`, ...fields);
}
