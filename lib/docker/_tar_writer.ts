/**
 * A streaming writer of POSIX tar (ustar, with pax `x` headers for long names), enough for a Docker build context:
 * regular files, directories and symbolic links, owned by root, with one fixed modification time so that the same
 * files give the same bytes (and Docker's layer cache hits).
 *
 * @module
 */

/** One member to write. */
export type TarMember =
  | { type: "file"; name: string; mode: number; size: number; body: () => AsyncIterable<Uint8Array> }
  | { type: "directory"; name: string; mode: number }
  | { type: "symlink"; name: string; target: string };

const BLOCK = 512;
/** 2020-01-01T00:00:00Z: every member gets it, so contexts are byte-for-byte reproducible. */
const MTIME = 1577836800;
const enc = new TextEncoder();

function _octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function _put(buf: Uint8Array, offset: number, text: string, width: number): void {
  const bytes = enc.encode(text);
  buf.set(bytes.subarray(0, width), offset);
}

function _header(name: string, size: number, mode: number, typeflag: string, linkname = ""): Uint8Array {
  const h = new Uint8Array(BLOCK);
  _put(h, 0, name, 100);
  _put(h, 100, _octal(mode & 0o7777, 8), 8);
  _put(h, 108, _octal(0, 8), 8);
  _put(h, 116, _octal(0, 8), 8);
  _put(h, 124, _octal(size, 12), 12);
  _put(h, 136, _octal(MTIME, 12), 12);
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  _put(h, 156, typeflag, 1);
  _put(h, 157, linkname, 100);
  _put(h, 257, "ustar\u000000", 8);
  _put(h, 265, "root", 32);
  _put(h, 297, "root", 32);
  let sum = 0;
  for (const b of h) sum += b;
  _put(h, 148, sum.toString(8).padStart(6, "0") + "\0 ", 8);
  return h;
}

function _paxRecord(key: string, value: string): string {
  // "<length> <key>=<value>\n" where length counts its own digits too.
  const body = ` ${key}=${value}\n`;
  const bodyLen = enc.encode(body).length;
  let digits = 1;
  while (String(bodyLen + digits).length !== digits) digits++;
  return `${bodyLen + digits}${body}`;
}

function _padding(size: number): Uint8Array {
  const rest = size % BLOCK;
  return new Uint8Array(rest === 0 ? 0 : BLOCK - rest);
}

function* _headers(
  name: string,
  size: number,
  mode: number,
  typeflag: string,
  link = "",
): Generator<Uint8Array> {
  const long = enc.encode(name).length > 100 || enc.encode(link).length > 100;
  if (long) {
    let records = _paxRecord("path", name);
    if (link) records += _paxRecord("linkpath", link);
    const data = enc.encode(records);
    yield _header("PaxHeaders/" + name.slice(-80), data.length, 0o644, "x");
    yield data;
    yield _padding(data.length);
  }
  yield _header(long ? name.slice(-99) : name, size, mode, typeflag, long ? link.slice(0, 99) : link);
}

/**
 * Serialises members into tar bytes, streaming each file's body; a body that yields a different number of bytes
 * than its declared size is an error (the file changed while the context was being sent).
 *
 * @param members the members, in order.
 * @returns the tar stream, ending with the two zero blocks.
 * @throws {Error} when a file's body length differs from its size.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * async function* body() { yield new TextEncoder().encode("hi"); }
 * const chunks: Uint8Array[] = [];
 * for await (const c of writeTar([{ type: "file", name: "a.txt", mode: 0o644, size: 2, body }])) chunks.push(c);
 * const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
 * let at = 0;
 * for (const c of chunks) { bytes.set(c, at); at += c.length; }
 * assert.equal(bytes.length, 512 * 4); // header, body block, two end blocks
 * assert.equal(new TextDecoder().decode(bytes.subarray(0, 5)), "a.txt");
 * assert.equal(new TextDecoder().decode(bytes.subarray(512, 514)), "hi");
 * ```
 */
export async function* writeTar(
  members: AsyncIterable<TarMember> | Iterable<TarMember>,
): AsyncGenerator<Uint8Array> {
  for await (const m of members) {
    if (m.type === "directory") {
      yield* _headers(m.name.endsWith("/") ? m.name : m.name + "/", 0, m.mode, "5");
    } else if (m.type === "symlink") {
      yield* _headers(m.name, 0, 0o777, "2", m.target);
    } else {
      yield* _headers(m.name, m.size, m.mode, "0");
      let written = 0;
      for await (const chunk of m.body()) {
        written += chunk.length;
        if (written > m.size) break;
        yield chunk;
      }
      if (written !== m.size) {
        throw new Error(
          `Cannot add "${m.name}" to the tar stream: expected ${m.size} bytes, read ${written}`,
        );
      }
      yield _padding(m.size);
    }
  }
  yield new Uint8Array(BLOCK * 2);
}
