/**
 * Resumable, verified HTTP download of one file.
 *
 * The file grows as `<dest>.part` and only becomes `<dest>` after its size (and md5, when known) are
 * verified, so a partial file is never mistaken for a complete one. A second run resumes the `.part` with
 * `Range: bytes=N-` (hashing the existing prefix first); a server that ignores the range (answers 200) is
 * read from byte 0 again. Verification is remembered in `<dest>.md5` (JSON with size, md5 and mtime), so a
 * re-run does not re-hash a 4 GB file; a changed size or mtime invalidates it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { NihError } from "./errors.ts";

/** Progress of one download: `download` while bytes arrive, `verify` while existing bytes are hashed. */
export interface DownloadProgress {
  phase: "download" | "verify";
  /** Bytes done (downloaded or hashed), counting a resumed prefix. */
  bytesDone: number;
  /** Total bytes, when known. */
  bytesTotal?: number | undefined;
}

/** Options of {@linkcode downloadFile}. */
export interface DownloadOptions {
  /** Expected size; when absent the server's `Content-Length` is checked instead. */
  bytes?: number | undefined;
  /** Expected md5 (32 hex digits); when absent only the size is checked. */
  md5?: string | undefined;
  /** Further attempts after a failed one (network error without progress, 5xx, mismatch). @default 3 */
  retries?: number | undefined;
  /** First wait between attempts, doubled each time. @default 1000 */
  backoffMs?: number | undefined;
  /** Called as bytes arrive or are hashed. */
  onProgress?: ((event: DownloadProgress) => void) | undefined;
  /** Cancels the download (the `.part` file is kept for a later resume). */
  signal?: AbortSignal | undefined;
}

/** What {@linkcode downloadFile} did. */
export interface DownloadResult {
  /** The final path. */
  path: string;
  bytes: number;
  md5: string;
  /** `skipped`: it was already there and verified. */
  status: "downloaded" | "skipped";
  /** HTTP requests made. */
  requests: number;
}

/** A downloaded file whose size or md5 is not the expected one, after all retries. */
export class ChecksumMismatchError extends NihError {
  /**
   * @param message What differs, in which file.
   * @param kind What was compared.
   */
  constructor(
    message: string,
    readonly file: string,
    readonly kind: "size" | "md5",
    readonly expected: string,
    readonly actual: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The server answered with an HTTP error, or the download kept failing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new DownloadError("HTTP 404 Not Found", "https://h/x.tar.gz?sig=s", 404);
 * assert.deepEqual([e.message, e.url, e.status], ["Cannot download https://h/x.tar.gz: HTTP 404 Not Found", "https://h/x.tar.gz", 404]);
 * ```
 */
export class DownloadError extends NihError {
  /** The URL without its query (which may hold a SAS token). */
  readonly url: string;
  /**
   * @param url The URL (its query is left out of the message and of `url`).
   * @param status The HTTP status, when there was one.
   */
  constructor(detail: string, url: string, readonly status?: number, options?: ErrorOptions) {
    super(`Cannot download ${displayUrl(url)}: ${detail}`, options);
    this.url = displayUrl(url);
  }
}

/**
 * A URL fit for messages: the query (which may carry a SAS token or other credential) is dropped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(displayUrl("https://a.blob.core.windows.net/c/x.gz?sig=SECRET"), "https://a.blob.core.windows.net/c/x.gz");
 * ```
 */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return `${u.origin}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

interface Sidecar {
  bytes: number;
  md5: string;
  mtimeMs: number;
}

/** Remembers that `dest`, at its current size and mtime, has this md5. */
async function writeSidecar(dest: string, md5: string, s: { size: number; mtimeMs: number }): Promise<void> {
  const sidecar: Sidecar = { bytes: s.size, md5, mtimeMs: s.mtimeMs };
  await writeFile(`${dest}.md5`, JSON.stringify(sidecar));
}

/**
 * Computes the md5 of a file by streaming it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const f = await Deno.makeTempFile();
 * await Deno.writeTextFile(f, "abc");
 * assert.equal(await md5File(f), "900150983cd24fb0d6963f7d28e17f72");
 * await Deno.remove(f);
 * ```
 */
export async function md5File(path: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash("md5");
  await hashInto(hash, path, onBytes);
  return hash.digest("hex");
}

async function hashInto(hash: ReturnType<typeof createHash>, path: string, onBytes?: (n: number) => void) {
  let done = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Uint8Array);
    done += (chunk as Uint8Array).length;
    onBytes?.(done);
  }
}

async function sizeOf(path: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  try {
    const s = await stat(path);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch {
    return undefined;
  }
}

/** Checks an existing final file: trusted through its sidecar, else hashed (then the sidecar is written). */
async function verifyExisting(dest: string, options: DownloadOptions): Promise<DownloadResult | undefined> {
  const s = await sizeOf(dest);
  if (!s) return undefined;
  let md5: string | undefined;
  try {
    const side = JSON.parse(await readFile(`${dest}.md5`, "utf8")) as Sidecar;
    if (side.bytes === s.size && side.mtimeMs === s.mtimeMs) md5 = side.md5;
  } catch { /* no usable sidecar: hash below */ }
  if (md5 === undefined) {
    md5 = await md5File(
      dest,
      (n) => options.onProgress?.({ phase: "verify", bytesDone: n, bytesTotal: s.size }),
    );
    await writeSidecar(dest, md5, s);
  }
  if ((options.bytes !== undefined && s.size !== options.bytes) || (options.md5 && md5 !== options.md5)) {
    await rm(dest, { force: true });
    await rm(`${dest}.md5`, { force: true });
    return undefined;
  }
  return { path: dest, bytes: s.size, md5, status: "skipped", requests: 0 };
}

/** One HTTP request continuing `part`; returns the size of `part` afterwards. Throws on network errors. */
async function attempt(
  url: string,
  part: string,
  hash: { current: ReturnType<typeof createHash> },
  offset: number,
  options: DownloadOptions,
): Promise<{ size: number; declared?: number | undefined }> {
  const headers: Record<string, string> = offset > 0 ? { Range: `bytes=${offset}-` } : {};
  const res = await fetch(url, { headers, signal: options.signal ?? null });
  if (res.status === 416 && offset > 0) {
    await res.body?.cancel();
    const total = Number(/\/(\d+)/.exec(res.headers.get("content-range") ?? "")?.[1] ?? NaN);
    if (total === offset) return { size: offset, declared: total };
    await rm(part, { force: true }); // the part is longer than the file: start over
    hash.current = createHash("md5");
    return { size: 0 };
  }
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel();
    throw new DownloadError(`HTTP ${res.status} ${res.statusText}`, url, res.status);
  }
  const range = /^bytes (\d+)-\d+\/(\d+|\*)/.exec(res.headers.get("content-range") ?? "");
  let start = offset;
  if (res.status === 200 || !range || Number(range[1]) !== offset) {
    // The server ignored the range (or answered another one): take the body as the whole file.
    start = 0;
    hash.current = createHash("md5");
  }
  const length = Number(res.headers.get("content-length") ?? NaN);
  const declared = range && range[2] !== "*" && start === offset
    ? Number(range[2])
    : Number.isFinite(length)
    ? start + length
    : undefined;
  const file = await Deno.open(part, { write: true, create: true, truncate: start === 0, append: start > 0 });
  let size = start;
  try {
    for await (const chunk of res.body!) {
      hash.current.update(chunk);
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
      size += chunk.length;
      options.onProgress?.({ phase: "download", bytesDone: size, bytesTotal: options.bytes ?? declared });
    }
  } catch (e) {
    (e as { partSize?: number }).partSize = size;
    throw e;
  } finally {
    file.close();
  }
  return { size, declared };
}

/**
 * Downloads `url` to `dest`, resuming `<dest>.part`, verifying size and md5, retrying with backoff.
 *
 * @param url Where to download from.
 * @param dest The final path.
 * @param options Expected size/md5, retries, progress, cancellation.
 * @returns What was done.
 * @throws {ChecksumMismatchError} when size or md5 stay wrong after all retries (no file is left behind).
 * @throws {DownloadError} on HTTP errors that persist.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const body = new TextEncoder().encode("hello");
 * const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => new Response(body));
 * const dir = await Deno.makeTempDir();
 * const r = await downloadFile(`http://127.0.0.1:${server.addr.port}/h`, `${dir}/h.txt`, { bytes: 5 });
 * assert.equal(r.md5, "5d41402abc4b2a76b9719d911017c592");
 * assert.equal((await downloadFile("http://127.0.0.1:9/none", `${dir}/h.txt`)).status, "skipped");
 * await server.shutdown();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function downloadFile(
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Promise<DownloadResult> {
  const retries = options.retries ?? 3;
  const backoff = options.backoffMs ?? 1000;
  const name = basename(dest);
  const existing = await verifyExisting(dest, options);
  if (existing) return existing;
  const part = `${dest}.part`;
  let failures = 0;
  let requests = 0;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    if (failures > retries) {
      if (lastError instanceof ChecksumMismatchError || lastError instanceof DownloadError) throw lastError;
      const why = String((lastError as Error)?.message).replaceAll(url, displayUrl(url));
      const detail = `gave up after ${failures} failed attempts: ${why}`;
      throw new DownloadError(detail, url, undefined, { cause: lastError });
    }
    if (failures > 0) {
      await sleep(backoff * 2 ** (failures - 1), undefined, { signal: options.signal })
        .catch(() => options.signal!.throwIfAborted());
    }
    // Hash what is already there, then continue from its end.
    let offset = (await sizeOf(part))?.size ?? 0;
    if (options.bytes !== undefined && offset > options.bytes) {
      await rm(part, { force: true });
      offset = 0;
    }
    const hash = { current: createHash("md5") };
    if (offset > 0) {
      await hashInto(
        hash.current,
        part,
        (n) => options.onProgress?.({ phase: "verify", bytesDone: n, bytesTotal: options.bytes }),
      );
    }
    let size = offset;
    let declared: number | undefined;
    if (options.bytes === undefined || offset < options.bytes) {
      requests++;
      try {
        ({ size, declared } = await attempt(url, part, hash, offset, options));
      } catch (e) {
        if (options.signal?.aborted) throw options.signal.reason;
        lastError = e;
        const status = (e as DownloadError).status;
        if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
          throw e;
        }
        // A connection cut that made progress does not use up a retry: the next request resumes.
        const progressed = ((e as { partSize?: number }).partSize ?? offset) > offset;
        if (!progressed) failures++;
        continue;
      }
    }
    const expectedSize = options.bytes ?? declared;
    if (expectedSize !== undefined && size < expectedSize) {
      if (size === offset) failures++;
      lastError = new DownloadError(`connection ended at byte ${size} of ${expectedSize}`, url);
      continue; // short read: resume
    }
    const md5 = hash.current.digest("hex");
    const [kind, expected, actual] = expectedSize !== undefined && size !== expectedSize
      ? ["size", String(expectedSize), String(size)] as const
      : options.md5 && md5 !== options.md5
      ? ["md5", options.md5, md5] as const
      : [];
    if (kind) {
      await rm(part, { force: true });
      lastError = new ChecksumMismatchError(
        `Downloaded "${name}" has the wrong ${kind}: expected ${expected}, got ${actual}`,
        name,
        kind,
        expected,
        actual,
      );
      failures++;
      continue;
    }
    await rename(part, dest);
    await writeSidecar(dest, md5, (await sizeOf(dest))!);
    return { path: dest, bytes: size, md5, status: "downloaded", requests };
  }
}
