/**
 * Streaming extraction of an NIH `images_NNN.tar.gz`: gunzip + {@linkcode readTar}, writing only
 * `images/*.png` members, each to a temporary name then renamed, so a crash never leaves a half-written
 * PNG. Identical existing files are left alone.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createReadStream } from "node:fs";
import { mkdir, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { createGunzip } from "node:zlib";
import { writeAtomic } from "../write_atomic.ts";
import { NihError } from "./errors.ts";
import { CorruptArchiveError, readTar, TruncatedArchiveError } from "./tar.ts";

/** A member whose path would escape the destination (absolute, or with `..`). */
export class UnsafeArchiveMemberError extends NihError {
  /**
   * @param message Which member, in which archive, and why it is refused.
   * @param member The member path as stored.
   */
  constructor(message: string, readonly archive: string, readonly member: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Progress of an extraction. */
export interface ExtractProgress {
  phase: "extract";
  /** Compressed bytes read so far. */
  bytesDone: number;
  /** Size of the archive file. */
  bytesTotal: number;
  /** PNGs extracted or found identical so far. */
  files: number;
}

/** Options of {@linkcode extractArchive}. */
export interface ExtractOptions {
  /** Called after each member. */
  onProgress?: ((event: ExtractProgress) => void) | undefined;
  /** Stops between members. */
  signal?: AbortSignal | undefined;
}

/** What {@linkcode extractArchive} did. */
export interface ExtractResult {
  /** PNG members in the archive. */
  images: number;
  /** PNGs written. */
  written: number;
  /** PNGs already there, byte-identical. */
  identical: number;
  /** Other members, not extracted. */
  ignored: number;
  /** Uncompressed bytes of the PNG members. */
  bytes: number;
}

const IMAGE = /^(?:\.\/)?images\/([^/]+\.png)$/;
const COMPARE_LIMIT = 64 << 20;

/** Checks a member path: throws {@linkcode UnsafeArchiveMemberError} when it is absolute or has a `..` segment. */
function checkMemberPath(name: string, archive: string): void {
  const absolute = name.startsWith("/") || name.startsWith("\\") || /^[A-Za-z]:/.test(name);
  if (absolute || name.split(/[\\/]/).includes("..")) {
    throw new UnsafeArchiveMemberError(
      `Archive "${archive}" has an unsafe member path "${name}": absolute paths and ".." are not allowed`,
      archive,
      name,
    );
  }
}

/**
 * Extracts the `images/*.png` members of a `.tar.gz` into `<dest>/images/`.
 *
 * @param archivePath The `.tar.gz` file.
 * @param dest The destination folder (PNGs go to its `images/` folder).
 * @param options Progress and cancellation.
 * @returns Counts of images written, identical and other members.
 * @throws {TruncatedArchiveError} when the gzip or tar data ends early.
 * @throws {CorruptArchiveError} on bad gzip data or a bad tar header.
 * @throws {UnsafeArchiveMemberError} on an absolute or `..` member path.
 * @example
 * ```ts ignore
 * const r = await extractArchive("data/archives/images_001.tar.gz", "data");
 * console.log(r.images); // 4999
 * ```
 */
export async function extractArchive(
  archivePath: string,
  dest: string,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  const archive = basename(archivePath);
  const total = (await stat(archivePath)).size;
  const imagesDir = join(dest, "images");
  await mkdir(imagesDir, { recursive: true });
  const input = createReadStream(archivePath, { highWaterMark: 1 << 20 });
  const gunzip = createGunzip();
  input.on("error", (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  const result: ExtractResult = { images: 0, written: 0, identical: 0, ignored: 0, bytes: 0 };
  let tarBytes = 0;
  const tarStream = (async function* () {
    try {
      for await (const chunk of gunzip) {
        tarBytes += (chunk as Uint8Array).length;
        yield chunk as Uint8Array;
      }
    } catch (e) {
      const members = result.images + result.ignored;
      if ((e as { code?: string }).code === "Z_BUF_ERROR") {
        throw new TruncatedArchiveError("gzip data ends", archive, tarBytes, members, { cause: e });
      }
      const detail = `bad gzip data (${(e as Error).message})`;
      throw new CorruptArchiveError(detail, archive, input.bytesRead, { cause: e });
    }
  })();
  try {
    for await (const entry of readTar(tarStream, archive)) {
      options.signal?.throwIfAborted();
      checkMemberPath(entry.name, archive);
      const png = IMAGE.exec(entry.name)?.[1];
      if (entry.type !== "file" || png === undefined) {
        result.ignored++;
        continue;
      }
      const target = join(imagesDir, png);
      const existing = await stat(target).catch(() => undefined);
      // A file of the same size is compared (when small enough to hold): identical ones are not rewritten.
      const data = existing?.size === entry.size && entry.size <= COMPARE_LIMIT
        ? Buffer.concat(await Array.fromAsync(entry.body))
        : undefined;
      if (data && data.equals(await readFile(target))) result.identical++;
      else {
        await writeAtomic(target, data ?? entry.body);
        result.written++;
      }
      result.images++;
      result.bytes += entry.size;
      options.onProgress?.({
        phase: "extract",
        bytesDone: input.bytesRead,
        bytesTotal: total,
        files: result.images,
      });
    }
  } finally {
    input.destroy();
    gunzip.destroy();
  }
  options.onProgress?.({ phase: "extract", bytesDone: total, bytesTotal: total, files: result.images });
  return result;
}
