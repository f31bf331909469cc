/**
 * Storage failures the CLI and notebooks tell apart, all of them a {@linkcode StorageError}. The store maps
 * every `@azure/storage-blob` or network error to one of them, with a message that says what and where and
 * never carries a key, SAS signature or connection string.
 *
 * @module
 */
import { CxrError } from "../errors.ts";

/**
 * Base class of every storage failure; `code` is the service's error code or the network error code, `status`
 * the HTTP status where the service answered. The message is redacted by {@linkcode CxrError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CxrError } from "../errors.ts";
 * const e = new ContainerNotFoundError('Container "nih-images" does not exist', "ContainerNotFound", 404);
 * assert.ok(e instanceof StorageError && e instanceof CxrError);
 * assert.deepEqual([e.name, e.code, e.status], ["ContainerNotFoundError", "ContainerNotFound", 404]);
 * assert.equal(new StorageError("AccountKey=c2VjcmV0a2V5;").message, "AccountKey=***;");
 * ```
 */
export class StorageError extends CxrError {
  /**
   * @param message What failed and where.
   * @param code Service error code (`ContainerNotFound`, `AuthorizationFailure`, ...) or network code
   *   (`ECONNREFUSED`).
   * @param status HTTP status, where the service answered.
   */
  constructor(
    message: string,
    readonly code?: string | undefined,
    readonly status?: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The account refused the key, SAS or token (HTTP 403 on authentication). */
export class StorageAuthError extends StorageError {}

/** The credential is valid but lacks a permission (e.g. a read-only SAS used to write). */
export class StoragePermissionError extends StorageError {}

/** Nothing answered at the endpoint (connection refused, unknown host, timeout). */
export class StorageUnreachableError extends StorageError {}

/**
 * The endpoint accepted the request (or the connection) but every try stalled: no answer and no bytes moved
 * within the per-try timeout (`CXR_STORAGE_TIMEOUT_MS`). A kind of {@linkcode StorageUnreachableError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new StorageTimeoutError("Blob storage at http://127.0.0.1:9/a did not answer", "ETIMEDOUT");
 * assert.ok(e instanceof StorageUnreachableError);
 * assert.equal(e.name, "StorageTimeoutError");
 * ```
 */
export class StorageTimeoutError extends StorageUnreachableError {}

/** The container does not exist. */
export class ContainerNotFoundError extends StorageError {}

/** The blob does not exist. */
export class BlobNotFoundError extends StorageError {}

/**
 * Downloaded bytes do not match the blob's Content-MD5 or length; the partial file was removed. (Named apart
 * from nih's `ChecksumMismatchError`, which is about a downloaded archive.)
 */
export class BlobChecksumMismatchError extends StorageError {}

/** A local file changed (size, mtime or content) while it was being uploaded; nothing was committed. */
export class FileChangedError extends StorageError {}
