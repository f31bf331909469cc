/**
 * A streaming reader of ustar/GNU tar data: 512-byte headers with verified checksums, GNU long names
 * (`L`) and pax extended headers (`x`, `g`), member bodies handed out as chunks so an archive is never
 * held in memory.
 *
 * @module
 */

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
  /** Modification time, seconds since 1970. */
  mtime: number;
  /** The body, as it streams from the archive. */
  body: AsyncIterable<Uint8Array>;
}

/** The archive ends too early; `bytesRead` says how far it got. */
export class TruncatedArchiveError extends Error {
  /** The archive. */
  archive: string;
  /** Uncompressed tar bytes read before the end. */
  bytesRead: number;
  /** Complete members read before the end. */
  entries: number;
  constructor(archive: string, bytesRead: number, entries: number, detail: string, options?: ErrorOptions) {
    super(
      `Archive "${archive}" is truncated: ${detail} after ${bytesRead} bytes of tar data (${entries} complete members)`,
      options,
    );
    this.name = "TruncatedArchiveError";
    this.archive = archive;
    this.bytesRead = bytesRead;
    this.entries = entries;
  }
}

/** The archive is damaged: bad header checksum, bad number, bad gzip data. */
export class CorruptArchiveError extends Error {
  /** The archive. */
  archive: string;
  /** Byte offset (in the tar data, or the compressed file for gzip errors) where it was noticed. */
  offset: number;
  constructor(archive: string, offset: number, detail: string, options?: ErrorOptions) {
    super(`Archive "${archive}" is corrupt at byte ${offset}: ${detail}`, options);
    this.name = "CorruptArchiveError";
    this.archive = archive;
    this.offset = offset;
  }
}

/** Pulls exact byte counts out of a chunk stream. */
class _Reader {
  #it: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  position = 0;
  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }
  /** Up to `max` bytes (at least 1), or undefined at the end. */
  async chunk(max: number): Promise<Uint8Array | undefined> {
    while (this.#buf.length === 0) {
      const r = await this.#it.next();
      if (r.done) return undefined;
      this.#buf = r.value;
    }
    const out = this.#buf.subarray(0, Math.min(max, this.#buf.length));
    this.#buf = this.#buf.subarray(out.length);
    this.position += out.length;
    return out;
  }
  /** Exactly `n` bytes, or fewer if the stream ends. */
  async exact(n: number): Promise<Uint8Array> {
    const first = await this.chunk(n);
    if (!first || first.length === n) return first ?? new Uint8Array(0);
    const out = new Uint8Array(n);
    out.set(first);
    let got = first.length;
    while (got < n) {
      const c = await this.chunk(n - got);
      if (!c) return out.subarray(0, got);
      out.set(c, got);
      got += c.length;
    }
    return out;
  }
}

const decoder = new TextDecoder();

function str(block: Uint8Array, start: number, len: number): string {
  const field = block.subarray(start, start + len);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

/** Parses an octal (or GNU base-256) number field; NaN when malformed. */
function num(block: Uint8Array, start: number, len: number): number {
  const field = block.subarray(start, start + len);
  if (field[0] & 0x80) {
    let v = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i];
    return v;
  }
  const text = decoder.decode(field).replace(/[\0 ]+$/, "").trim();
  return text === "" ? 0 : /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
}

function checksumOk(block: Uint8Array): boolean {
  const stored = num(block, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 32 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

function parsePax(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const m = /^(\d+) ([^=]+)=/.exec(rest);
    if (!m) break;
    // The length counts bytes; the records here are ASCII or UTF-8, so measure in bytes.
    const bytes = new TextEncoder().encode(rest);
    const len = Number(m[1]);
    const record = decoder.decode(bytes.subarray(0, len));
    out[m[2]] = record.slice(m[0].length, -1);
    rest = decoder.decode(bytes.subarray(len));
  }
  return out;
}

const TYPES: Record<string, TarEntry["type"]> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "5": "directory",
  "2": "symlink",
  "1": "hardlink",
};

/**
 * Reads tar entries from a stream of (uncompressed) tar bytes.
 *
 * @param source The tar bytes, in chunks of any size.
 * @param archive The archive name, for error messages.
 * @throws {TruncatedArchiveError} when the data ends before the end-of-archive marker.
 * @throws {CorruptArchiveError} on a header with a bad checksum or size.
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
  const reader = new _Reader(
    Symbol.asyncIterator in source ? source : (async function* () {
      yield* source as Iterable<Uint8Array>;
    })(),
  );
  let entries = 0;
  let longName: string | undefined;
  let pax: Record<string, string> = {};
  const truncated = (what: string) => new TruncatedArchiveError(archive, reader.position, entries, what);
  const readBody = async (size: number): Promise<Uint8Array> => {
    const data = await reader.exact(size);
    if (data.length < size) throw truncated("member data ends");
    await skipPadding(size);
    return data;
  };
  const skipPadding = async (size: number) => {
    const pad = (512 - (size % 512)) % 512;
    if (pad && (await reader.exact(pad)).length < pad) throw truncated("member padding ends");
  };
  for (;;) {
    const offset = reader.position;
    const block = await reader.exact(512);
    if (block.length < 512) {
      throw truncated(block.length === 0 ? "end-of-archive marker missing" : "header ends");
    }
    if (block.every((b) => b === 0)) {
      const second = await reader.exact(512);
      if (second.length === 512 && !second.every((b) => b === 0)) {
        throw new CorruptArchiveError(archive, offset, "a zero block followed by data");
      }
      return; // end of archive (a lone zero block at the very end is tolerated, like GNU tar does)
    }
    if (!checksumOk(block)) throw new CorruptArchiveError(archive, offset, "tar header checksum mismatch");
    const size = num(block, 124, 12);
    if (!Number.isSafeInteger(size)) {
      throw new CorruptArchiveError(archive, offset, "bad size field in tar header");
    }
    const flag = String.fromCharCode(block[156]);
    if (flag === "L" || flag === "x" || flag === "g" || flag === "K") {
      if (size > 1 << 20) {
        throw new CorruptArchiveError(archive, offset, `oversized '${flag}' header (${size} bytes)`);
      }
      const data = await readBody(size);
      if (flag === "L") longName = str(data, 0, data.length);
      else if (flag === "x") pax = parsePax(decoder.decode(data));
      continue;
    }
    let name = str(block, 0, 100);
    const magic = str(block, 257, 6);
    const prefix = str(block, 345, 155);
    if (magic === "ustar" && prefix) name = `${prefix}/${name}`;
    if (longName !== undefined) name = longName;
    if (pax.path !== undefined) name = pax.path;
    const realSize = pax.size !== undefined ? Number(pax.size) : size;
    longName = undefined;
    pax = {};
    const type = TYPES[flag] ?? "other";
    const bodySize = type === "directory" || type === "symlink" || type === "hardlink" ? 0 : realSize;
    let consumed = 0;
    const body = (async function* () {
      while (consumed < bodySize) {
        const c = await reader.chunk(bodySize - consumed);
        if (!c) throw truncated(`member "${name}" ends`);
        consumed += c.length;
        yield c;
      }
    })();
    yield { name, size: bodySize, type, mode: num(block, 100, 8), mtime: num(block, 136, 12), body };
    // Skip whatever the consumer left unread, then the padding.
    while (consumed < bodySize) {
      const c = await reader.chunk(bodySize - consumed);
      if (!c) throw truncated(`member "${name}" ends`);
      consumed += c.length;
    }
    await skipPadding(bodySize);
    entries++;
  }
}
