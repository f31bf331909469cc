/**
 * Reading tar data as a stream, with the `tar-stream` package: ustar/GNU/pax headers with verified checksums,
 * long names resolved, member bodies handed out as chunks so an archive is never held in memory. What this
 * module adds: errors that name the archive and say where it ends or breaks, and an end-of-archive check
 * (`tar-stream` accepts data that stops at a member boundary).
 *
 * @module
 */
import { type Extract, extract } from "tar-stream";
import { NihError } from "./errors.ts";

/** One member of a tar archive. Read `body` before asking for the next entry (or it is skipped). */
export interface TarEntry {
  /** Path inside the archive (long names resolved). */
  name: string;
  /** Size of the body in bytes. */
  size: number;
  /** `file`, `directory`, `symlink`, `hardlink` or `other`. */
  type: "file" | "directory" | "symlink" | "hardlink" | "other";
  /** Unix permission bits. */
  mode: number;
  /** The body, as it streams from the archive. */
  body: AsyncIterable<Uint8Array>;
}

/** The archive ends too early; `bytesRead` says how far it got. */
export class TruncatedArchiveError extends NihError {
  /**
   * @param detail What ended (`gzip data ends`).
   * @param bytesRead Uncompressed tar bytes read before the end.
   * @param entries Complete members read before the end.
   */
  constructor(
    detail: string,
    readonly archive: string,
    readonly bytesRead: number,
    readonly entries: number,
    options?: ErrorOptions,
  ) {
    super(
      `Archive "${archive}" is truncated: ${detail} after ${bytesRead} bytes of tar data (${entries} complete members)`,
      options,
    );
  }
}

/** The archive is damaged: bad header checksum, bad number, bad gzip data. */
export class CorruptArchiveError extends NihError {
  /**
   * @param detail What is wrong (`bad header checksum`).
   * @param offset Byte offset (in the tar data, or the compressed file for gzip errors) where it was noticed.
   */
  constructor(detail: string, readonly archive: string, readonly offset: number, options?: ErrorOptions) {
    super(`Archive "${archive}" is corrupt at byte ${offset}: ${detail}`, options);
  }
}

const TYPES: Record<string, TarEntry["type"]> = {
  "file": "file",
  "contiguous-file": "file",
  "directory": "directory",
  "symlink": "symlink",
  "link": "hardlink",
};

/** Feeds `source` into `sink` with back-pressure, counting bytes; a source error destroys the sink. */
async function pump(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  sink: Extract,
  state: { fed: number; error?: unknown },
): Promise<void> {
  try {
    for await (const chunk of source) {
      if (sink.destroying) return;
      state.fed += chunk.length;
      if (!sink.write(chunk)) {
        await new Promise<void>((resolve) => {
          const go = (): void => (sink.off("drain", go), sink.off("close", go), resolve());
          sink.on("drain", go).on("close", go);
        });
      }
    }
    if (!sink.destroying) sink.end(null);
  } catch (e) {
    state.error = e;
    sink.destroy(e as Error);
  }
}

/**
 * Reads tar entries from a stream of (uncompressed) tar bytes.
 *
 * @param source The tar bytes, in chunks of any size.
 * @param archive The archive name, for error messages.
 * @throws {TruncatedArchiveError} when the data ends before the end-of-archive marker.
 * @throws {CorruptArchiveError} on a header with a bad checksum or size (`offset`: where the member's
 * headers start).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const header = new Uint8Array(512);
 * const put = (s: string, at: number) => header.set(new TextEncoder().encode(s), at);
 * put("images/a.png", 0); put("0000644\0", 100); put("00000000003\0", 124); put("00000000000\0", 136);
 * put("0", 156); put("ustar\x0000", 257);
 * put("        ", 148);
 * put(header.reduce((s, b) => s + b, 0).toString(8).padStart(6, "0") + "\0 ", 148);
 * const body = new Uint8Array(512); body.set([1, 2, 3]);
 * const tar = new Uint8Array([...header, ...body, ...new Uint8Array(1024)]);
 * const names: string[] = [];
 * for await (const e of readTar([tar], "t.tar")) {
 *   names.push(e.name);
 *   for await (const c of e.body) assert.deepEqual([...c], [1, 2, 3]);
 * }
 * assert.deepEqual(names, ["images/a.png"]);
 * ```
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  archive: string,
): AsyncGenerator<TarEntry> {
  const tar = extract();
  // `fed`: tar bytes handed to the parser, all of them once the source has ended.
  const input: { fed: number; error?: unknown } = { fed: 0 };
  let entries = 0;
  let end = 0; // where the last member (with its padding) ends
  let member: string | undefined; // the member whose body is being read
  const pumping = pump(source, tar, input);
  /** The error to throw for one the parser raised (a source error as it is). */
  const fail = (e: unknown): unknown => {
    if (e === input.error || e instanceof TruncatedArchiveError || e instanceof CorruptArchiveError) return e;
    const fed = input.fed;
    const message = (e as Error).message;
    if (message === "Unexpected end of data") {
      const detail = member !== undefined
        ? `member "${member}" ends`
        : fed < end
        ? "member padding ends"
        : "header ends";
      return new TruncatedArchiveError(detail, archive, fed, entries, { cause: e });
    }
    const detail = message.startsWith("Invalid tar header. Maybe")
      ? "tar header checksum mismatch"
      : message === "Invalid header"
      ? "bad size field in tar header"
      : message;
    return new CorruptArchiveError(detail, archive, end, { cause: e });
  };
  try {
    for await (const stream of tar) {
      const { header, offset } = stream;
      const chunks = stream[Symbol.asyncIterator]();
      const next = () => chunks.next().catch((e) => Promise.reject(fail(e)));
      member = header.name;
      end = offset + 512 + header.size + (-header.size & 511);
      const body = (async function* () {
        for (let r = await next(); !r.done; r = await next()) {
          const c = r.value as Uint8Array;
          yield new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
        }
      })();
      yield {
        name: header.name,
        size: header.size,
        type: TYPES[header.type] ?? "other",
        mode: header.mode,
        body,
      };
      while (!(await next()).done); // skip what the consumer left unread
      member = undefined;
      entries++;
    }
  } catch (e) {
    throw fail(e);
  } finally {
    tar.destroy();
    await pumping;
  }
  if (input.fed === end) {
    throw new TruncatedArchiveError("end-of-archive marker missing", archive, end, entries);
  }
}
