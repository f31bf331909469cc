/**
 * {@linkcode AzureBlobStore}: the {@linkcode BlobStore} over `@azure/storage-blob`, for Azure Blob Storage
 * and Azurite alike. Uploads set Content-MD5 (computed locally, also for block uploads) and send a
 * transactional MD5 with every request body, so the service checks each part in transit. Large files go
 * up in blocks whose IDs name their content, so an interrupted upload resumes with the blocks not yet
 * staged. Downloads go to a temp file that is renamed only when length and Content-MD5 match. Every try of
 * every request runs under a stall timeout ({@linkcode withTryTimeout}).
 *
 * @module
 */
import type { BlobServiceClient } from "@azure/storage-blob";
import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type {
  BlobInfo,
  BlobRef,
  BlobStore,
  DownloadFileOptions,
  RetryOptions,
  SasOptions,
  UploadFileOptions,
} from "./blob_store.ts";
import { BlobChecksumMismatchError, BlobNotFoundError, FileChangedError } from "./errors.ts";
import { contentTypeOf, PART_MARK } from "./_files.ts";
import { MAX_BLOCKS, stageFileBlocks } from "./_blocks.ts";
import { toStorageError, type TryContext, withRetry, withTryTimeout } from "./_retry.ts";
import { buildSasUrl } from "./_sas.ts";

const MiB = 1024 * 1024;
const b64 = (md5?: Uint8Array) => (md5?.length ? Buffer.from(md5).toString("base64") : undefined);

/** What the SDK's blob properties say about `ref`. */
function blobInfo(
  ref: BlobRef,
  p: { contentLength?: number; contentMD5?: Uint8Array; contentType?: string; lastModified?: Date },
): BlobInfo {
  const { contentLength, contentMD5, contentType, lastModified } = p;
  return { ...ref, size: contentLength ?? 0, md5: b64(contentMD5), contentType, lastModified };
}

/** Options of {@linkcode AzureBlobStore}. */
export interface AzureBlobStoreOptions {
  /** Retries of each request (turn the SDK's own off: `maxTries: 1`); `onRetry` gets a `StorageError`. */
  retry?: RetryOptions | undefined;
  /** Longest one try may go without an answer or a byte moved, then it is retried. @default 30_000 */
  tryTimeoutMs?: number;
}

/**
 * A {@linkcode BlobStore} over a `BlobServiceClient`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BlobServiceClient } from "@azure/storage-blob";
 * import { startAzurite } from "./azurite.ts";
 * const dir = Deno.makeTempDirSync();
 * const azurite = await startAzurite(`${dir}/azurite`, { port: 0 });
 * const service = BlobServiceClient.fromConnectionString(azurite.connectionString.reveal(), { retryOptions: { maxTries: 1 } });
 * const store = new AzureBlobStore(service);
 * Deno.writeTextFileSync(`${dir}/a.json`, "{}");
 * await store.ensureContainer("docs");
 * const info = await store.uploadFile(`${dir}/a.json`, { container: "docs", name: "a.json" });
 * assert.equal(info.md5, "mZFLkyvTelC5g8XnyQrpOw=="); // MD5 of "{}"
 * assert.equal(info.contentType, "application/json");
 * await azurite.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class AzureBlobStore implements BlobStore {
  readonly account: string;
  /** Blob service endpoint, without any SAS. */
  readonly endpoint: string;
  /** The stall limit of one try, in milliseconds. */
  readonly tryTimeoutMs: number;
  #service: BlobServiceClient;
  #retry: RetryOptions;

  constructor(service: BlobServiceClient, options: AzureBlobStoreOptions = {}) {
    const ms = options.tryTimeoutMs ?? 30_000;
    if (!Number.isFinite(ms) || ms <= 0) {
      throw new RangeError(`AzureBlobStore: tryTimeoutMs must be a positive number, got ${ms}`);
    }
    this.#service = service;
    this.account = service.accountName;
    this.endpoint = service.url.replace(/\?.*$/s, "").replace(/\/$/, "");
    this.tryTimeoutMs = ms;
    this.#retry = options.retry ?? {};
  }

  /**
   * Runs one request with retries, each try under the stall timeout, and maps its failure to a StorageError
   * (also the one handed to `onRetry`).
   */
  async #call<T>(
    where: { container?: string; name?: string },
    fn: (t: TryContext) => Promise<T>,
    retry?: RetryOptions,
  ) {
    const options = { ...this.#retry, ...retry };
    const ctx = { account: this.account, endpoint: this.endpoint, ...where };
    let tries = 0;
    try {
      return await withRetry(() => {
        tries++;
        return withTryTimeout(fn, this.tryTimeoutMs);
      }, {
        ...options,
        onRetry: options.onRetry &&
          ((e, attempt, delay) => options.onRetry!(toStorageError(e, { ...ctx, tries }), attempt, delay)),
      });
    } catch (e) {
      if (e instanceof RangeError || e instanceof TypeError) throw e; // bad arguments stay what they are
      throw toStorageError(e, { ...ctx, tries });
    }
  }

  #blob(ref: BlobRef) {
    return this.#service.getContainerClient(ref.container).getBlockBlobClient(ref.name);
  }

  ensureContainer(container: string): Promise<boolean> {
    const c = this.#service.getContainerClient(container);
    return this.#call(
      { container },
      async (t) => (await c.createIfNotExists({ abortSignal: t.abortSignal })).succeeded,
    );
  }

  containerExists(container: string): Promise<boolean> {
    const c = this.#service.getContainerClient(container);
    return this.#call({ container }, (t) => c.exists({ abortSignal: t.abortSignal }));
  }

  async *list(container: string, prefix = ""): AsyncIterable<BlobInfo> {
    const c = this.#service.getContainerClient(container);
    let token: string | undefined;
    do {
      // One page per request, so each page is retried on its own.
      const page = await this.#call({ container }, async (t) => {
        const pages = c.listBlobsFlat({ ...(prefix ? { prefix } : {}), abortSignal: t.abortSignal }).byPage({
          ...(token === undefined ? {} : { continuationToken: token }),
          maxPageSize: 5000,
        });
        return (await pages.next()).value;
      });
      for (const item of page?.segment.blobItems ?? []) {
        yield blobInfo({ container, name: item.name }, item.properties);
      }
      token = page?.continuationToken || undefined;
    } while (token);
  }

  async properties(ref: BlobRef): Promise<BlobInfo | undefined> {
    const client = this.#blob(ref);
    try {
      const p = await this.#call(ref, (t) => client.getProperties({ abortSignal: t.abortSignal }));
      return blobInfo(ref, p);
    } catch (e) {
      if (e instanceof BlobNotFoundError) return undefined;
      throw e;
    }
  }

  async exists(ref: BlobRef): Promise<boolean> {
    return (await this.properties(ref)) !== undefined;
  }

  async uploadFile(path: string, dest: BlobRef, options: UploadFileOptions = {}): Promise<BlobInfo> {
    const blockSize = options.blockSize ?? 8 * MiB;
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 4000 * MiB) {
      throw new RangeError(`uploadFile: blockSize must be an integer from 1 to 4000 MiB, got ${blockSize}`);
    }
    const client = this.#blob(dest);
    const contentType = options.contentType ?? contentTypeOf(dest.name);
    const before = await stat(path, { bigint: true });
    const size = Number(before.size);
    let md5: Uint8Array;
    if (size <= blockSize) {
      const data = await readFile(path);
      md5 = createHash("md5").update(data).digest();
      await unchanged(path, before, data.length, md5, options.expectedMd5, dest);
      await this.#call(dest, (t) =>
        client.upload(data, data.length, {
          blobHTTPHeaders: { blobContentMD5: md5, blobContentType: contentType },
          transactionalContentMD5: md5,
          ...t,
        }), options.retry);
      options.onBytes?.(size);
    } else {
      const { ids, md5: whole, length } = await stageFileBlocks(client, path, size, {
        // Keep within the service's block count: a huge file gets bigger blocks.
        blockSize: Math.max(blockSize, Math.ceil(size / MAX_BLOCKS)),
        concurrency: options.blockConcurrency ?? 4,
        call: (fn) => this.#call(dest, fn, options.retry),
        onBytes: options.onBytes,
      });
      md5 = whole;
      await unchanged(path, before, length, md5, options.expectedMd5, dest);
      await this.#call(dest, (t) =>
        client.commitBlockList(ids, {
          blobHTTPHeaders: { blobContentMD5: md5, blobContentType: contentType },
          abortSignal: t.abortSignal,
        }), options.retry);
    }
    return { ...dest, size, md5: b64(md5), contentType };
  }

  async downloadFile(src: BlobRef, path: string, options: DownloadFileOptions = {}): Promise<BlobInfo> {
    const client = this.#blob(src);
    await mkdir(dirname(path), { recursive: true });
    return await this.#call(src, async (t) => {
      const temp = join(dirname(path), `.${basename(path)}${PART_MARK}${randomBytes(4).toString("hex")}`);
      try {
        const res = await client.download(0, undefined, { maxRetryRequests: 3, ...t });
        const expected = b64(res.blobContentMD5 ?? res.contentMD5);
        const hash = createHash("md5");
        let received = 0;
        const meter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            t.onProgress();
            hash.update(chunk);
            received += chunk.length;
            options.onBytes?.(chunk.length);
            done(null, chunk);
          },
        });
        await pipeline(res.readableStreamBody!, meter, createWriteStream(temp, { flags: "wx" }), {
          signal: t.abortSignal,
        });
        const md5 = hash.digest("base64");
        const where = `"${src.container}/${src.name}"`;
        if (res.contentLength !== undefined && received !== res.contentLength) {
          throw new BlobChecksumMismatchError(
            `Received ${received} bytes of ${where} but it has ${res.contentLength}; "${path}" was not written`,
          );
        }
        if (expected && md5 !== expected) {
          throw new BlobChecksumMismatchError(
            `Content-MD5 mismatch for ${where}: the blob says ${expected}, the received bytes hash to ${md5}; ` +
              `"${path}" was not written`,
          );
        }
        await rename(temp, path);
        return { ...src, size: received, md5: expected ?? md5, contentType: res.contentType };
      } catch (e) {
        await rm(temp, { force: true });
        throw e;
      }
    }, options.retry);
  }

  delete(ref: BlobRef): Promise<boolean> {
    const client = this.#blob(ref);
    return this.#call(
      ref,
      async (t) => (await client.deleteIfExists({ abortSignal: t.abortSignal })).succeeded,
    );
  }

  sasUrl(ref: BlobRef | { container: string }, options: SasOptions = {}): Promise<string> {
    return this.#call(ref, (t) => buildSasUrl(this.#service, ref, options, t), { attempts: 1 });
  }
}

/** Throws FileChangedError if the file's size or mtime moved, fewer bytes were read, or the MD5 differs. */
async function unchanged(
  path: string,
  before: { size: bigint; mtimeNs: bigint },
  length: number,
  md5: Uint8Array,
  expectedMd5: string | undefined,
  dest: BlobRef,
): Promise<void> {
  const after = await stat(path, { bigint: true }).catch(() => undefined);
  let why = "";
  if (!after) why = "it was removed";
  else if (after.size !== before.size || BigInt(length) !== before.size) {
    why = `its size went from ${before.size} to ${after.size} bytes`;
  } else if (after.mtimeNs !== before.mtimeNs) why = "it was modified";
  else if (expectedMd5 && b64(md5) !== expectedMd5) why = "its content differs from when it was hashed";
  if (why) {
    throw new FileChangedError(
      `File "${path}" changed while it was being uploaded (${why}); nothing was committed to ` +
        `"${dest.container}/${dest.name}". Run the upload again to send the new version.`,
    );
  }
}
