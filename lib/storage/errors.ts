/**
 * Storage failures the CLI and notebooks tell apart, and {@linkcode toStorageError}, which turns an
 * `@azure/storage-blob` error (or a network error) into one of them with a message that says what and
 * where and never carries a key, SAS signature or connection string.
 *
 * @module
 */
import { redactSecrets } from "../config.ts";
import { TryTimeoutError } from "./retry.ts";

/**
 * Base class of every storage failure; `code` is the service's error code or the network error code.
 * Messages pass through `redactSecrets`, so a registered key never shows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new ContainerNotFoundError('Container "nih-images" does not exist', { code: "ContainerNotFound" });
 * assert.ok(e instanceof StorageError);
 * assert.equal(e.name, "ContainerNotFoundError");
 * assert.equal(new StorageError("AccountKey=c2VjcmV0a2V5;").message, "AccountKey=***;");
 * ```
 */
export class StorageError extends Error {
  /** Service error code (`ContainerNotFound`, `AuthorizationFailure`, ...) or network code (`ECONNREFUSED`). */
  code?: string;
  /** HTTP status, where the service answered. */
  status?: number;
  constructor(message: string, options?: ErrorOptions & { code?: string; status?: number }) {
    super(redactSecrets(message), options);
    this.name = "StorageError";
    this.code = options?.code;
    this.status = options?.status;
  }
}

/** The account refused the key, SAS or token (HTTP 403 on authentication). */
export class StorageAuthError extends StorageError {
  constructor(message: string, options?: ErrorOptions & { code?: string; status?: number }) {
    super(message, options);
    this.name = "StorageAuthError";
  }
}

/** The credential is valid but lacks a permission (e.g. a read-only SAS used to write). */
export class StoragePermissionError extends StorageError {
  constructor(message: string, options?: ErrorOptions & { code?: string; status?: number }) {
    super(message, options);
    this.name = "StoragePermissionError";
  }
}

/** Nothing answered at the endpoint (connection refused, unknown host, timeout). */
export class StorageUnreachableError extends StorageError {
  constructor(message: string, options?: ErrorOptions & { code?: string; status?: number }) {
    super(message, options);
    this.name = "StorageUnreachableError";
  }
}

/**
 * The endpoint accepted the request (or the connection) but every try stalled: no answer and no bytes moved
 * within the per-try timeout (`CXR_STORAGE_TIMEOUT_MS`). A kind of {@linkcode StorageUnreachableError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new StorageTimeoutError("Blob storage at http://127.0.0.1:9/a did not answer", { code: "ETIMEDOUT" });
 * assert.ok(e instanceof StorageUnreachableError);
 * assert.equal(e.name, "StorageTimeoutError");
 * ```
 */
export class StorageTimeoutError extends StorageUnreachableError {
  constructor(message: string, options?: ErrorOptions & { code?: string; status?: number }) {
    super(message, options);
    this.name = "StorageTimeoutError";
  }
}

/** The container does not exist. */
export class ContainerNotFoundError extends StorageError {
  constructor(message: string, options?: ErrorOptions & { code?: string; status?: number }) {
    super(message, options);
    this.name = "ContainerNotFoundError";
  }
}

/** The blob does not exist. */
export class BlobNotFoundError extends StorageError {
  constructor(message: string, options?: ErrorOptions & { code?: string; status?: number }) {
    super(message, options);
    this.name = "BlobNotFoundError";
  }
}

/** Downloaded bytes do not match the blob's Content-MD5 or length; the partial file was removed. */
export class ChecksumMismatchError extends StorageError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ChecksumMismatchError";
  }
}

/** A local file changed (size, mtime or content) while it was being uploaded; nothing was committed. */
export class FileChangedError extends StorageError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FileChangedError";
  }
}

/** Where an operation was aimed, for messages. */
export interface StorageErrorContext {
  /** Account name. */
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

/** `1.5 s`, `30 s`, `250 ms`. */
function duration(ms: number): string {
  return ms >= 1000 ? `${Number((ms / 1000).toFixed(1))} s` : `${ms} ms`;
}

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

function hostPort(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return u.port ? `${u.hostname}:${u.port}` : `${u.hostname}:${u.protocol === "https:" ? 443 : 80}`;
  } catch {
    return "(invalid endpoint)";
  }
}

/** The endpoint without any query (a SAS) or user info, for messages. */
function endpointOf(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/$/, "")}`;
  } catch {
    return "(invalid endpoint)";
  }
}

/**
 * Maps an error from `@azure/storage-blob` to a {@linkcode StorageError} subclass with a clear, redacted
 * message. Storage errors pass through unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const ctx = { account: "devstoreaccount1", endpoint: "http://127.0.0.1:9/devstoreaccount1" };
 * const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
 * const e = toStorageError(refused, ctx);
 * assert.ok(e instanceof StorageUnreachableError);
 * assert.match(e.message, /127\.0\.0\.1:9 \(connection refused\)/);
 * const denied = Object.assign(new Error("Server failed to authenticate"), { statusCode: 403, code: "AuthorizationFailure" });
 * assert.match(toStorageError(denied, ctx).message, /authentication failed for account "devstoreaccount1"/);
 * const { TryTimeoutError } = await import("./retry.ts");
 * const stalled = toStorageError(new TryTimeoutError(2000), { ...ctx, container: "nih-images", tries: 4 });
 * assert.ok(stalled instanceof StorageTimeoutError);
 * assert.match(stalled.message, /^Blob storage at http:\/\/127\.0\.0\.1:9\/devstoreaccount1 did not answer for "nih-images": each of 4 tries gave up after 2 s/);
 * ```
 */
export function toStorageError(error: unknown, ctx: StorageErrorContext): StorageError {
  if (error instanceof StorageError) return error;
  const e = error as { message?: string; code?: string; statusCode?: number; name?: string };
  const code = typeof e?.code === "string" ? e.code : undefined;
  const status = typeof e?.statusCode === "number" ? e.statusCode : undefined;
  const detail = redactSecrets(String(e?.message ?? error).split("\n")[0]);
  const where = ctx.container ? `"${ctx.container}${ctx.name ? `/${ctx.name}` : ""}"` : "";
  const opts = { cause: error, code, status };
  if (code && UNREACHABLE.has(code)) {
    const why = code === "ECONNREFUSED" ? "connection refused" : `host not found or unreachable: ${code}`;
    return new StorageUnreachableError(
      `Cannot reach blob storage at ${hostPort(ctx.endpoint)} (${why})`,
      opts,
    );
  }
  if (error instanceof TryTimeoutError) {
    const tries = ctx.tries ?? 1;
    return new StorageTimeoutError(
      `Blob storage at ${endpointOf(ctx.endpoint)} did not answer${where ? ` for ${where}` : ""}: ` +
        `${tries === 1 ? "the try" : `each of ${tries} tries`} gave up after ${
          duration(error.ms)
        } without an ` +
        "answer or a byte moved (CXR_STORAGE_TIMEOUT_MS); check that this endpoint is reachable and is a blob " +
        "service",
      opts,
    );
  }
  if (code === "ETIMEDOUT" || e?.name === "TimeoutError") {
    return new StorageTimeoutError(`Blob storage at ${endpointOf(ctx.endpoint)} timed out`, opts);
  }
  if (status === 403 && /Permission|NotAuthorized|Mismatch/i.test(code ?? "")) {
    return new StoragePermissionError(
      `Permission denied for ${
        where || `account "${ctx.account}"`
      }: the credential does not allow this operation (${code})`,
      opts,
    );
  }
  if (status === 403 || status === 401) {
    return new StorageAuthError(
      `Storage authentication failed for account "${ctx.account}" at ${hostPort(ctx.endpoint)}: ` +
        `the key, SAS or token was refused (${code ?? status})`,
      opts,
    );
  }
  if (code === "ContainerNotFound" || (status === 404 && ctx.container && !ctx.name)) {
    return new ContainerNotFoundError(
      `Container "${ctx.container}" does not exist in account "${ctx.account}"`,
      opts,
    );
  }
  if (code === "BlobNotFound" || status === 404) {
    return new BlobNotFoundError(`Blob ${where} does not exist in account "${ctx.account}"`, opts);
  }
  return new StorageError(
    `Storage request${where ? ` for ${where}` : ""} failed${
      status ? ` (HTTP ${status}${code ? ` ${code}` : ""})` : ""
    }: ${detail}`,
    opts,
  );
}
