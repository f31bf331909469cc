/**
 * The NIH files as they are on the wire, and the shared reading helpers: the format error, gzip detection,
 * hashing, line splitting.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { basename } from "node:path";

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

/** One data row of `Data_Entry_2017*.csv`: 11 fields in {@linkcode ENTRY_HEADER} order. */
export type RawEntryRow = [
  image: string,
  findingLabels: string,
  followUp: string,
  patientId: string,
  age: string,
  gender: string,
  view: string,
  width: string,
  height: string,
  spacingX: string,
  spacingY: string,
];

/** The header of `BBox_List_2017.csv` split naively: 6 named fields, then 3 empty ones in the real file. */
export const BBOX_HEADER = ["Image Index", "Finding Label", "Bbox [x", "y", "w", "h]"] as const;

/** One data row of `BBox_List_2017.csv`: image, label (`Infiltrate` for Infiltration), x, y, w, h. */
export type RawBBoxRow = [image: string, label: string, x: string, y: string, w: string, h: string];

/** An NIH image name: 8-digit patient, `_`, 3-digit follow-up, `.png`. */
export const IMAGE_NAME = /^(\d{8})_(\d{3})\.png$/;

/**
 * A file that does not parse: names the file, the 1-based line and column, and what was wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new NihFormatError("expected 11 fields, found 9", { file: "Data_Entry_2017.csv", line: 12, column: 3 });
 * assert.ok(e instanceof SyntaxError);
 * assert.equal(e.message, 'Cannot read "Data_Entry_2017.csv" at line 12, column 3: expected 11 fields, found 9');
 * ```
 */
export class NihFormatError extends SyntaxError {
  /** The file (as given by the caller). */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column (characters). */
  column: number;
  /** What was wrong, without the location. */
  reason: string;
  constructor(reason: string, where: { file: string; line: number; column: number }, options?: ErrorOptions) {
    super(`Cannot read "${where.file}" at line ${where.line}, column ${where.column}: ${reason}`, options);
    this.name = "NihFormatError";
    this.file = where.file;
    this.line = where.line;
    this.column = where.column;
    this.reason = reason;
  }
}

/**
 * A gzip file that cannot be decompressed (truncated download, corrupt bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new GzipError("x.csv.gz", "unexpected end of file");
 * assert.match(e.message, /Cannot decompress "x.csv.gz": unexpected end of file/);
 * ```
 */
export class GzipError extends Error {
  /** The file. */
  file: string;
  constructor(file: string, reason: string, options?: ErrorOptions) {
    super(`Cannot decompress "${file}": ${reason}`, options);
    this.name = "GzipError";
    this.file = file;
  }
}

/** A file's bytes, its text (gunzipped when it starts with the gzip magic bytes) and the sha256 of the bytes. */
export interface InputFile {
  /** The path as given. */
  path: string;
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
 * @throws {GzipError} If the gzip stream is truncated or corrupt.
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
export function decodeMaybeGzip(bytes: Uint8Array, file: string): string {
  let data = bytes;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      data = gunzipSync(bytes);
    } catch (e) {
      const msg = (e as Error).message;
      const reason = /unexpected end/i.test(msg)
        ? `the gzip stream is truncated (${msg}); download it again`
        : `the gzip stream is corrupt (${msg})`;
      throw new GzipError(file, reason, { cause: e });
    }
  }
  return new TextDecoder().decode(data);
}

/** Hex sha256 of bytes. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Reads a file (plain or gzipped) into an {@linkcode InputFile}. */
export function readInputFile(path: string): InputFile {
  const bytes = readFileSync(path);
  const name = basename(path);
  return { path, name, text: decodeMaybeGzip(bytes, name), sha256: sha256Hex(bytes) };
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
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.length > 0 && l.charCodeAt(l.length - 1) === 13) lines[i] = l.slice(0, -1);
  }
  return lines;
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
  for (let i = 0; i < index && i < fields.length; i++) col += fields[i].length + 1;
  return index >= fields.length ? col - 1 : col;
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
