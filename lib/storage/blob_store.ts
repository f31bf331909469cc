/**
 * The one interface every blob store implements (Azure Blob Storage, Azurite), so that transfers, the CLI
 * and the conformance suite do not care which one is behind it.
 *
 * @module
 */
/** A blob: container and name (`images/00000001_000.png`). */
export interface BlobRef {
  container: string;
  /** Blob name inside the container. */
  name: string;
}

/** What a store knows about a blob. */
export interface BlobInfo extends BlobRef {
  /** Length in bytes. */
  size: number;
  /** Content-MD5 (base64), when the blob has one. */
  md5?: string | undefined;
  contentType?: string | undefined;
  /** Last modification time. */
  lastModified?: Date | undefined;
}

/** Options of {@linkcode BlobStore.uploadFile}. */
export interface UploadFileOptions {
  /** Files larger than this go up in blocks of this size (stageBlock + commitBlockList). @default 8 MiB */
  blockSize?: number | undefined;
  /** Blocks of one file in flight at once. @default 4 */
  blockConcurrency?: number;
  /** Content-Type. @default guessed from the extension */
  contentType?: string | undefined;
  /** The file's MD5 (base64) as hashed before; the upload fails with FileChangedError if the bytes differ. */
  expectedMd5?: string | undefined;
  /** Called with the byte count of each part sent (blocks already staged by an earlier run are not sent). */
  onBytes?: ((bytes: number) => void) | undefined;
  /** Retries of each request. */
  retry?: RetryOptions | undefined;
}

/** Options of {@linkcode BlobStore.downloadFile}. */
export interface DownloadFileOptions {
  /** Called with the byte count of each chunk received. */
  onBytes?: ((bytes: number) => void) | undefined;
  /** Retries of the whole download. */
  retry?: RetryOptions | undefined;
}

/** Options of {@linkcode BlobStore.sasUrl}. */
export interface SasOptions {
  /** Permissions, as Azure letters: `r` read, `l` list (containers), `w` write, `c` create, `d` delete. @default "r" (blob), "rl" (container) */
  permissions?: string;
  /** Lifetime in seconds. @default 3600 */
  expiresInSeconds?: number;
}

/** A blob store. Every method throws a `StorageError` subclass on failure. */
export interface BlobStore {
  readonly account: string;
  /** Blob service endpoint (no credentials in it). */
  readonly endpoint: string;
  /** Creates the container if missing; resolves `true` if it was created. */
  ensureContainer(container: string): Promise<boolean>;
  /** Whether the container exists. */
  containerExists(container: string): Promise<boolean>;
  /** Every blob whose name starts with `prefix`, in name order. Throws ContainerNotFoundError. */
  list(container: string, prefix?: string): AsyncIterable<BlobInfo>;
  /** The blob's properties, or `undefined` if it does not exist. */
  properties(ref: BlobRef): Promise<BlobInfo | undefined>;
  /** Whether the blob exists. */
  exists(ref: BlobRef): Promise<boolean>;
  /** Uploads a local file with its Content-MD5 set; blocks for large files. */
  uploadFile(path: string, dest: BlobRef, options?: UploadFileOptions): Promise<BlobInfo>;
  /** Downloads a blob to a temp file beside `path`, checks length and Content-MD5, then renames it. */
  downloadFile(src: BlobRef, path: string, options?: DownloadFileOptions): Promise<BlobInfo>;
  /** Deletes the blob; resolves `true` if it existed. */
  delete(ref: BlobRef): Promise<boolean>;
  /** A URL with a SAS for sharing a blob (or, without `name`, a container), read-only by default. */
  sasUrl(ref: BlobRef | { container: string }, options?: SasOptions): Promise<string>;
}

/** How a store call retries a transient failure (HTTP 408/429/5xx, reset or timed-out connections). */
export interface RetryOptions {
  /** Attempts in all, the first included. @default 4 */
  attempts?: number | undefined;
  /** Delay before the second attempt; doubles each time. @default 200 */
  baseDelayMs?: number | undefined;
  /** Longest delay between attempts. @default 5000 */
  maxDelayMs?: number | undefined;
  /** Called before each new attempt. */
  onRetry?: ((error: unknown, attempt: number, delayMs: number) => void) | undefined;
}
