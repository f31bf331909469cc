/**
 * Upload and download of whole folders (or single files) with bounded concurrency, progress events and
 * resume: a second run sends only what is missing or different (size and Content-MD5 compared), so an
 * interrupted run loses nothing. Each file either arrives complete and verified or not at all.
 *
 * @module
 */
import { readdir, rm, stat } from "node:fs/promises";
import { basename, isAbsolute, join, normalize, sep } from "node:path";
import { redactSecrets } from "../secrets.ts";
import { mapPool } from "../pool.ts";
import type { BlobInfo, BlobStore, RetryOptions } from "./blob_store.ts";
import { ContainerNotFoundError } from "./errors.ts";
import { type LocalFile, md5File, PART_MARK, walkFiles } from "./_files.ts";

/** Where blobs are: a store, a container and a name prefix treated as a folder (`images` = `images/`). */
export interface BlobLocation {
  store: BlobStore;
  container: string;
  /** Folder-like prefix of blob names. @default "" (the whole container) */
  prefix?: string;
}

/** A progress event of a transfer. */
export interface TransferProgress {
  /** `scan`: totals known; `file`: one file finished (sent, skipped or failed); `bytes`: part of a file moved. */
  kind: "scan" | "file" | "bytes";
  /** Files sent so far. */
  files: number;
  /** Files skipped because they were already there. */
  skipped: number;
  /** Files that failed. */
  failed: number;
  /** Files in all. */
  filesTotal: number;
  /** Bytes handled so far (sent, or skipped as already there). */
  bytes: number;
  /** Bytes in all. */
  bytesTotal: number;
  /** The file this event is about. */
  name?: string | undefined;
}

/** A file that could not be transferred. */
export interface TransferFailure {
  name: string;
  /** Why, without secrets. */
  reason: string;
}

/** What a transfer did. */
export interface TransferSummary {
  /** Files sent. */
  files: number;
  /** Bytes sent. */
  bytes: number;
  /** Files already there and identical. */
  skipped: number;
  /** Files that failed. */
  failed: number;
  /** The failures, one per file. */
  failures: TransferFailure[];
}

/** Options of {@linkcode uploadPath} and {@linkcode downloadPrefix}. */
export interface TransferOptions {
  /** Files in flight at once. @default 8 */
  concurrency?: number;
  /** Block size for large uploads. @default 8 MiB */
  blockSize?: number;
  /** Retries of each request. */
  retry?: RetryOptions;
  /** Progress events. */
  onProgress?: (event: TransferProgress) => void;
}

/** `images`, `images/` and `/images/` all become `images/`; `""` stays `""`. */
function folderPrefix(prefix = ""): string {
  const p = prefix.replace(/^\/+/, "").replace(/\/+$/, "");
  return p ? `${p}/` : "";
}

function checkConcurrency(n: number, fn: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new RangeError(`${fn}: concurrency must be an integer from 1 to 256, got ${n}`);
  }
  return n;
}

class Tally {
  s: TransferSummary = { files: 0, bytes: 0, skipped: 0, failed: 0, failures: [] };
  /** Bytes handled so far: {@linkcode TransferProgress.bytes}. */
  bytes = 0;
  constructor(
    public filesTotal: number,
    public bytesTotal: number,
    public emit?: (e: TransferProgress) => void,
  ) {}
  event(kind: TransferProgress["kind"], name?: string) {
    const { s: { files, skipped, failed }, filesTotal, bytes, bytesTotal } = this;
    this.emit?.({ kind, files, skipped, failed, filesTotal, bytes, bytesTotal, name });
  }

  /**
   * Runs one file's transfer and counts it: `move` gets a byte counter and returns the file's size, with
   * `skipped` when it was already there; a throw counts as a failure of that file.
   */
  async file(
    name: string,
    move: (onBytes: (n: number) => void) => Promise<{ size: number; skipped?: boolean }>,
  ) {
    let counted = 0;
    try {
      const { size, skipped } = await move((n) => {
        counted += n;
        this.bytes += n;
        this.event("bytes", name);
      });
      if (skipped) this.s.skipped++;
      else {
        this.s.files++;
        this.s.bytes += size;
      }
      this.bytes += size - counted;
    } catch (e) {
      this.s.failed++;
      this.s.failures.push({ name, reason: reasonOf(e) });
    }
    this.event("file", name);
  }
}

const reasonOf = (e: unknown) => redactSecrets(e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/**
 * Uploads a file or every file under a folder to `dest`; blob names are the prefix plus the path relative
 * to `src` (a single file keeps its base name). Creates the container if missing. Files whose blob already
 * has the same size and MD5 are skipped.
 *
 * @throws {StorageError} when the store refuses or cannot be reached at the start (auth, unreachable);
 *   failures of single files are counted in the summary instead.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * import { connectStorage } from "./connect.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/note.txt`, "hello");
 * const env = { CXR_AZURITE_DIR: `${dir}/azurite`, CXR_AZURITE_PORT: "0" };
 * const conn = await connectStorage(loadSettings({ env, envFile: false }));
 * const dest = { store: conn.store, container: "docs", prefix: "notes" };
 * assert.deepEqual(await uploadPath(`${dir}/note.txt`, dest), { files: 1, bytes: 5, skipped: 0, failed: 0, failures: [] });
 * assert.equal((await uploadPath(`${dir}/note.txt`, dest)).skipped, 1);
 * assert.ok(await conn.store.exists({ container: "docs", name: "notes/note.txt" }));
 * await conn.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function uploadPath(
  src: string,
  dest: BlobLocation,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  const concurrency = checkConcurrency(options.concurrency ?? 8, "uploadPath");
  const prefix = folderPrefix(dest.prefix);
  const info = await stat(src).catch((e) => {
    throw new TypeError(`Cannot upload "${src}": it does not exist or cannot be read`, { cause: e });
  });
  const files: LocalFile[] = info.isDirectory()
    ? await walkFiles(src)
    : [{ rel: basename(src), path: src, size: info.size }];
  const { store, container } = dest;
  // Look before creating: a SAS scoped to one container may read it but not create containers.
  if (!(await store.containerExists(container))) await store.ensureContainer(container);
  const remote = new Map<string, BlobInfo>();
  for await (const b of store.list(container, prefix)) remote.set(b.name, b);
  const t = new Tally(files.length, files.reduce((n, f) => n + f.size, 0), options.onProgress);
  t.event("scan");
  await mapPool(files, concurrency, (file) => {
    const name = prefix + file.rel;
    return t.file(name, async (onBytes) => {
      const there = remote.get(name);
      const md5 = there?.md5 && there.size === file.size ? await md5File(file.path) : undefined;
      if (md5 !== undefined && md5 === there?.md5) return { size: file.size, skipped: true };
      return await store.uploadFile(file.path, { container, name }, {
        blockSize: options.blockSize,
        expectedMd5: md5,
        retry: options.retry,
        onBytes,
      });
    });
  });
  return t.s;
}

/** Removes temp files that a killed download left under `dir`. */
async function removeStaleParts(dir: string): Promise<void> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (e.isFile() && e.name.includes(PART_MARK)) await rm(join(e.parentPath, e.name), { force: true });
  }
}

/** The local path for a blob name relative to `dest`, or undefined if the name would escape it. */
function localPath(dest: string, rel: string): string | undefined {
  if (!rel || isAbsolute(rel) || rel.split("/").some((part) => part === ".." || part === "")) {
    return undefined;
  }
  const p = normalize(join(dest, rel));
  return p.startsWith(normalize(dest) + sep) ? p : undefined;
}

/**
 * Downloads every blob under `src` into the folder `dest`, at the blob name relative to the prefix; if the
 * prefix names one blob (and no folder), that blob alone is downloaded to `dest/<base name>`. Local files
 * with the same size and MD5 are skipped; every download goes to a temp file renamed once verified, and
 * temp files a killed run left under `dest` are removed first.
 *
 * @throws {ContainerNotFoundError} when the container does not exist; other StorageErrors when the store
 *   refuses or cannot be reached at the start.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * import { connectStorage } from "./connect.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${dir}/src/sub`, { recursive: true });
 * Deno.writeTextFileSync(`${dir}/src/sub/a.csv`, "x,y\n");
 * const env = { CXR_AZURITE_DIR: `${dir}/azurite`, CXR_AZURITE_PORT: "0" };
 * const conn = await connectStorage(loadSettings({ env, envFile: false }));
 * await uploadPath(`${dir}/src`, { store: conn.store, container: "docs", prefix: "tables" });
 * const s = await downloadPrefix({ store: conn.store, container: "docs", prefix: "tables" }, `${dir}/out`);
 * assert.equal(s.files, 1);
 * assert.equal(Deno.readTextFileSync(`${dir}/out/sub/a.csv`), "x,y\n");
 * await conn.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function downloadPrefix(
  src: BlobLocation,
  dest: string,
  options: TransferOptions = {},
): Promise<TransferSummary> {
  const concurrency = checkConcurrency(options.concurrency ?? 8, "downloadPrefix");
  const { store, container } = src;
  if (!(await store.containerExists(container))) {
    throw new ContainerNotFoundError(`Container "${container}" does not exist in account "${store.account}"`);
  }
  const prefix = folderPrefix(src.prefix);
  const blobs: { blob: BlobInfo; rel: string }[] = [];
  for await (const blob of store.list(container, prefix)) {
    blobs.push({ blob, rel: blob.name.slice(prefix.length) });
  }
  if (blobs.length === 0 && prefix) {
    const single = await store.properties({ container, name: prefix.slice(0, -1) });
    if (single) blobs.push({ blob: single, rel: basename(single.name) });
  }
  await removeStaleParts(dest);
  const t = new Tally(blobs.length, blobs.reduce((n, b) => n + b.blob.size, 0), options.onProgress);
  t.event("scan");
  await mapPool(blobs, concurrency, ({ blob, rel }) =>
    t.file(blob.name, async (onBytes) => {
      const path = localPath(dest, rel);
      if (!path) throw new RangeError(`Blob name "${blob.name}" would be written outside "${dest}"`);
      const local = await stat(path).catch(() => undefined);
      if (local?.isFile() && local.size === blob.size && (!blob.md5 || (await md5File(path)) === blob.md5)) {
        return { size: blob.size, skipped: true };
      }
      return await store.downloadFile(blob, path, { retry: options.retry, onBytes });
    }));
  return t.s;
}
