/**
 * The NIH files as they are on the wire, and the shared reading and writing helpers: gzip detection, hashing,
 * line splitting.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { closeSync, openSync, readSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { basename } from "node:path";
import { GzipError, InputTooLargeError } from "./errors.ts";

/**
 * The header of `Data_Entry_2017*.csv` split naively at commas (the bracketed column names contain commas and
 * are not quoted): 11 fields; the 2017 file adds a 12th, empty one (a trailing comma).
 */
export const ENTRY_HEADER = [
  "Image Index",
  "Finding Labels",
  "Follow-up #",
  "Patient ID",
  "Patient Age",
  "Patient Gender",
  "View Position",
  "OriginalImage[Width",
  "Height]",
  "OriginalImagePixelSpacing[x",
  "y]",
] as const;

/** The header of `BBox_List_2017.csv` split naively: 6 named fields, then 3 empty ones in the real file. */
export const BBOX_HEADER = ["Image Index", "Finding Label", "Bbox [x", "y", "w", "h]"] as const;

/** One data row of `BBox_List_2017.csv`: image, label (`Infiltrate` for Infiltration), x, y, w, h. */
export type RawBBoxRow = [image: string, label: string, x: string, y: string, w: string, h: string];

/** An NIH image name: 8-digit patient, `_`, 3-digit follow-up, `.png`. */
export const IMAGE_NAME = /^(\d{8})_(\d{3})\.png$/;

function size(bytes: number): string {
  return bytes >= 1048576 ? `${Number((bytes / 1048576).toFixed(1))} MiB` : `${bytes} bytes`;
}

/** The most bytes {@linkcode readInputFile} reads, and decompresses, by default: 64 MiB (the v2020 label file is 9 MB). */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/**
 * A value found in a file, quoted for a message: at most `max` characters (then `…`), control characters
 * and quotes escaped, so a stray binary or huge field cannot flood a terminal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(quoteFound("Age"), '"Age"');
 * assert.equal(quoteFound("a\u0000b"), '"a\\u0000b"');
 * assert.equal(quoteFound("x".repeat(100), 5), '"xxxxx…"');
 * ```
 */
export function quoteFound(value: string, max = 40): string {
  const cut = value.slice(0, max);
  const hex = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  const quoted = JSON.stringify(cut).replace(/[\u007f-\u009f]/g, hex); // JSON leaves these unescaped
  return cut.length < value.length ? `${quoted.slice(0, -1)}…"` : quoted;
}

/** A file's bytes, its text (gunzipped when it starts with the gzip magic bytes) and the sha256 of the bytes. */
export interface InputFile {
  /** The base name, used in messages. */
  name: string;
  /** Decoded UTF-8 text. */
  text: string;
  /** Hex sha256 of the file's bytes as stored (compressed if gzipped). */
  sha256: string;
}

/**
 * Decodes bytes as UTF-8 text, gunzipping first when they start with `1f 8b`.
 *
 * @param maxBytes The most bytes the gzip stream may decompress to. @default MAX_INPUT_BYTES
 * @throws {GzipError} If the gzip stream is truncated or corrupt.
 * @throws {InputTooLargeError} If it decompresses to more than `maxBytes`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gzipSync } from "node:zlib";
 * const gz = gzipSync(new TextEncoder().encode("a,b\n"));
 * assert.equal(decodeMaybeGzip(gz, "x.gz"), "a,b\n");
 * assert.equal(decodeMaybeGzip(new TextEncoder().encode("a,b\n"), "x"), "a,b\n");
 * assert.throws(() => decodeMaybeGzip(gz.subarray(0, gz.length - 6), "x.gz"), /truncated/);
 * ```
 */
export function decodeMaybeGzip(bytes: Uint8Array, file: string, maxBytes = MAX_INPUT_BYTES): string {
  let data = bytes;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      data = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (e) {
      if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
        throw new InputTooLargeError(`it decompresses to more than ${size(maxBytes)}`, file, maxBytes);
      }
      const msg = (e as Error).message;
      const reason = /unexpected end/i.test(msg)
        ? `the gzip stream is truncated (${msg}); download it again`
        : `the gzip stream is corrupt (${msg})`;
      throw new GzipError(reason, file, { cause: e });
    }
  }
  return new TextDecoder().decode(data);
}

/** Hex sha256 of bytes. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Reads a file (plain or gzipped) into an {@linkcode InputFile}, refusing one larger than `maxBytes` before
 * reading further (so `/dev/zero` or a FIFO that never ends cannot exhaust memory) and a gzip stream that
 * decompresses to more.
 *
 * @param path The file.
 * @param maxBytes The most bytes read, and decompressed. @default MAX_INPUT_BYTES
 * @throws {InputTooLargeError} Past the limit; {@linkcode GzipError}; the file system's own errors.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InputTooLargeError } from "./errors.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "a,b\n");
 * assert.equal(readInputFile(path).text, "a,b\n");
 * assert.throws(() => readInputFile(path, 3), InputTooLargeError);
 * assert.throws(() => readInputFile("/dev/zero", 1024), /larger than 1024 bytes/);
 * Deno.removeSync(path);
 * ```
 */
export function readInputFile(path: string, maxBytes = MAX_INPUT_BYTES): InputFile {
  const name = basename(path);
  const bytes = readAtMost(path, name, maxBytes);
  return { name, text: decodeMaybeGzip(bytes, name, maxBytes), sha256: sha256Hex(bytes) };
}

/** The file's bytes, read in chunks; {@linkcode InputTooLargeError} as soon as there are more than `max`. */
function readAtMost(path: string, name: string, max: number): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = new Uint8Array(Math.min(1 << 20, max + 1 - total));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > max) throw new InputTooLargeError(`it is larger than ${size(max)}`, name, max);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/**
 * Splits text into lines at LF, dropping a CR before it and one empty last line (a final newline).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(splitLines("a\r\nb\r\n"), ["a", "b"]);
 * assert.deepEqual(splitLines("a\nb"), ["a", "b"]);
 * ```
 */
export function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.map((l) => l.endsWith("\r") ? l.slice(0, -1) : l);
}

/**
 * 1-based column where field `index` of `fields` starts (fields were split at single commas); past the end of
 * the line for a missing field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(fieldColumn(["ab", "c", "d"], 1), 4);
 * assert.equal(fieldColumn(["ab", "c"], 5), 5);
 * ```
 */
export function fieldColumn(fields: readonly string[], index: number): number {
  let col = 1;
  for (const f of fields.slice(0, index)) col += f.length + 1;
  return index >= fields.length ? col - 1 : col;
}

/**
 * The message for line `index` (0-based) of a list that is not an image name. Line 1 is not quoted: a file that
 * is not a list at all (a key passed by mistake) stays unprinted.
 */
export function notAnImageName(name: string, index: number): string {
  const found = index === 0 ? "something else" : quoteFound(name);
  return `expected an image name like 00000001_000.png, found ${found}`;
}

/** Up to `n` names joined for a message, with the count when there are more. */
export function preview(names: readonly string[], n = 5): string {
  return names.slice(0, n).join(", ") + (names.length > n ? `, ... (${names.length} in all)` : "");
}

/** `v` if it is an integer in `min..max`, else a TypeError or RangeError that names `fn` and `name`. */
export function checkInt(fn: string, name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number") throw new TypeError(`${fn}: ${name} must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${fn}: ${name} must be an integer ${min}..${max}, got ${v}`);
  }
  return v;
}

/** The patient of an image name: its 8-digit prefix. */
export function patientOf(name: string): number {
  return Number(name.slice(0, 8));
}

/** Distinct patients per partition. */
export function patientCounts(images: SplitFileJson["images"]): SplitFileJson["patients"] {
  const count = (names: readonly string[]) => new Set(names.map(patientOf)).size;
  return { train: count(images.train), val: count(images.val), test: count(images.test) };
}

/** The split file as written (`cxr-split/1`); see `Split` in split.ts for the meaning of each field. */
export interface SplitFileJson {
  format: "cxr-split/1";
  method: "seed" | "official";
  seed: number;
  valFraction?: number;
  inputs: Record<string, { file: string; sha256: string }>;
  digest: string;
  patients: { train: number; val: number; test: number };
  images: { train: string[]; val: string[]; test: string[] };
}
