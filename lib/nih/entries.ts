/**
 * `Data_Entry_2017.csv`: one row per image with its findings, patient and acquisition data. Both variants
 * parse: the 2017 original (CRLF, header with a trailing comma) and the v2020 revision (LF, 11 header fields,
 * `Follow-up #` renumbered), plain or gzipped.
 *
 * @module
 */
import { ENTRY_HEADER, fieldColumn, quoteFound, readInputFile } from "./_format.ts";
import { NihFormatError } from "./errors.ts";
import { FindingLabelError, parseFindingLabels } from "./classes.ts";

/** One image of the label file. */
export interface Entry {
  /** File name, e.g. `00000001_000.png`. */
  image: string;
  /**
   * Multi-hot findings in `FINDINGS` order (all zeros for `No Finding`); a frozen array shared by the entries
   * with the same labels.
   */
  labels: readonly number[];
  /** `Follow-up #` (in v2020 renumbered chronologically; not always the name suffix). */
  followUp: number;
  /** `Patient ID`, equal to the name's 8-digit prefix. */
  patientId: number;
  /** `Patient Age` in years. */
  age: number;
  /** `Patient Gender`. */
  gender: "M" | "F";
  /** `View Position`. */
  view: "PA" | "AP";
  /** Original image width in pixels. */
  width: number;
  /** Original image height in pixels. */
  height: number;
  /** Original pixel spacing, x (mm). */
  spacingX: number;
  /** Original pixel spacing, y (mm). */
  spacingY: number;
}

/** Which revision of the label file was read. */
export type EntryVariant = "2017" | "v2020";

/** A parsed label file. */
export interface EntryTable {
  /** The file name used in messages. */
  file: string;
  /** `2017` when the header ends in a trailing comma, else `v2020`. */
  variant: EntryVariant;
  /** The rows in file order. */
  entries: Entry[];
  /** Hex sha256 of the file as stored; empty when parsed from text. */
  sha256: string;
}

const FLOAT = /^\d+(\.\d+)?([eE][-+]?\d+)?$/;

/**
 * Parses the text of a `Data_Entry_2017*.csv` file.
 *
 * @param options `file`: name for messages (default `"Data_Entry_2017.csv"`).
 * @throws {NihFormatError} On a file that is not a label file (its content is not quoted), a wrong header
 *   (naming the column), a row with the wrong field count, a
 *   non-numeric number, a bad gender or view, a malformed or duplicated image name, an unknown label, or a
 *   `Patient ID` that differs from the name's prefix. Nothing is skipped silently.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position," +
 *   "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\r\n" +
 *   "00000001_000.png,Cardiomegaly|Emphysema,0,1,58,M,PA,2682,2749,0.143,0.143\r\n";
 * const t = parseEntries(text);
 * assert.equal(t.variant, "2017");
 * assert.equal(t.entries[0]?.patientId, 1);
 * assert.deepEqual(t.entries[0]?.labels, [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
 * assert.throws(() => parseEntries(text.replace(",58,", ",old,")), /line 2, column 45: "Patient Age" must be/);
 * ```
 */
export function parseEntries(text: string, options: { file?: string } = {}): EntryTable {
  const file = options.file ?? "Data_Entry_2017.csv";
  let headerEnd = text.indexOf("\n");
  if (headerEnd < 0) headerEnd = text.length;
  const variant = checkHeader(text.slice(0, headerEnd).replace(/\r$/, ""), file);

  const entries: Entry[] = [];
  const seen = new Map<number, number>();
  const labelCache = new Map<string, readonly number[]>();
  const starts = new Int32Array(ENTRY_HEADER.length + 2);
  let line = 1;
  for (let pos = headerEnd + 1; pos < text.length;) {
    line++;
    let end = text.indexOf("\n", pos);
    if (end < 0) end = text.length;
    const next = end + 1;
    if (end > pos && text.charCodeAt(end - 1) === 13) end--;
    // Field i spans starts[i] .. starts[i + 1] - 1 (the comma); the last one ends at `end`.
    let count = 1;
    starts[0] = pos;
    for (let c = text.indexOf(",", pos); c >= 0 && c < end; c = text.indexOf(",", c + 1)) {
      starts[count++] = c + 1;
      if (count > ENTRY_HEADER.length) break;
    }
    const fail = (i: number, reason: string): never => {
      throw new NihFormatError(reason, file, line, starts[i]! - pos + 1);
    };
    if (count !== ENTRY_HEADER.length) {
      const found = text.slice(pos, end).split(",").length;
      if (count < ENTRY_HEADER.length) starts[count] = end; // point just past the end of the line
      fail(Math.min(count, ENTRY_HEADER.length), `expected ${ENTRY_HEADER.length} fields, found ${found}`);
    }
    starts[ENTRY_HEADER.length] = end + 1;
    const field = (i: number) => text.slice(starts[i], starts[i + 1]! - 1);
    const int = (i: number): number => {
      let v = 0;
      const a = starts[i]!;
      const b = starts[i + 1]! - 1;
      for (let k = a; k < b; k++) {
        const d = text.charCodeAt(k) - 48;
        if (d < 0 || d > 9) return fail(i, mustBe(i, "an integer", field(i)));
        v = v * 10 + d;
      }
      return a < b ? v : fail(i, mustBe(i, "an integer", ""));
    };
    const num = (i: number): number => {
      const s = field(i);
      return FLOAT.test(s) ? Number(s) : fail(i, mustBe(i, "a number", s));
    };

    const image = field(0);
    const key = imageKey(image);
    if (key < 0) fail(0, `"Image Index" must be a name like 00000001_000.png, found ${quoteFound(image)}`);
    const first = seen.get(key);
    if (first !== undefined) fail(0, `duplicated image ${quoteFound(image)} (first at line ${first})`);
    seen.set(key, line);

    const labelText = field(1);
    let labels = labelCache.get(labelText);
    if (labels === undefined) {
      try {
        labels = Object.freeze([...parseFindingLabels(labelText)]);
      } catch (e) {
        if (!(e instanceof FindingLabelError)) throw e;
        throw new NihFormatError(e.message, file, line, starts[1]! - pos + 1 + e.offset, { cause: e });
      }
      labelCache.set(labelText, labels);
    }
    const patientId = int(3);
    if (patientId !== Math.floor(key / 1000)) {
      fail(3, `"Patient ID" ${patientId} differs from the patient prefix of "${image}"`);
    }
    const gender = field(5);
    if (gender !== "M" && gender !== "F") fail(5, mustBe(5, '"M" or "F"', gender));
    const view = field(6);
    if (view !== "PA" && view !== "AP") fail(6, mustBe(6, '"PA" or "AP"', view));
    entries.push({
      image,
      labels,
      followUp: int(2),
      patientId,
      age: int(4),
      gender: gender as "M" | "F",
      view: view as "PA" | "AP",
      width: int(7),
      height: int(8),
      spacingX: num(9),
      spacingY: num(10),
    });
    pos = next;
  }
  return { file, variant, entries, sha256: "" };
}

/**
 * Checks the header line. A first column other than "Image Index" means the file is not a label file at all
 * (a wrong path, a key file, a binary): the message then says where and what was expected, never what the
 * line holds. Once the first column matches, the other header fields are quoted.
 */
function checkHeader(headerLine: string, file: string): EntryVariant {
  const header = headerLine.replace(/^\uFEFF/, "").split(",");
  const trailingComma = header.length === ENTRY_HEADER.length + 1 && header[ENTRY_HEADER.length] === "";
  const fail = (reason: string, column: number): never => {
    throw new NihFormatError(reason, file, 1, column);
  };
  if (header[0] !== ENTRY_HEADER[0]) {
    const start = ENTRY_HEADER.slice(0, 3).join(",");
    fail(`not a Data_Entry_2017 label file: its header must start with "${start}"`, 1);
  }
  for (let i = 1; i < ENTRY_HEADER.length; i++) {
    const got = header[i];
    if (got !== ENTRY_HEADER[i]) {
      const found = got === undefined ? "nothing" : quoteFound(got);
      const column = got === undefined ? headerLine.length + 1 : fieldColumn(header, i);
      fail(`header column ${i + 1} must be "${ENTRY_HEADER[i]}", found ${found}`, column);
    }
  }
  if (header.length > ENTRY_HEADER.length && !trailingComma) {
    const reason =
      `header has ${header.length} fields, expected ${ENTRY_HEADER.length} (or a trailing comma)`;
    fail(reason, fieldColumn(header, ENTRY_HEADER.length));
  }
  return trailingComma ? "2017" : "v2020";
}

/**
 * The number `patient * 1000 + suffix` of an image name like `00000001_002.png` (1002), or -1 if the name is
 * not of that form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(imageKey("00000001_002.png"), 1002);
 * assert.equal(imageKey("1_002.png"), -1);
 * ```
 */
export function imageKey(name: string): number {
  if (name.length !== 16 || name.charCodeAt(8) !== 95 || !name.endsWith(".png")) return -1;
  let v = 0;
  for (let k = 0; k < 12; k++) {
    if (k === 8) continue;
    const d = name.charCodeAt(k) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** {@linkcode ENTRY_HEADER} with the bracketed pairs written out, for messages. */
const COLUMN_NAMES = [
  ...ENTRY_HEADER.slice(0, 7),
  ...["OriginalImage[Width]", "OriginalImage[Height]"],
  ...["OriginalImagePixelSpacing[x]", "OriginalImagePixelSpacing[y]"],
];

function mustBe(i: number, what: string, found: string): string {
  return `"${COLUMN_NAMES[i]}" must be ${what}, found ${quoteFound(found)}`;
}

/**
 * Reads and parses a label file, plain or gzipped (detected by its magic bytes).
 *
 * @param path The file, e.g. `Data_Entry_2017_v2020.csv.gz`.
 * @throws {GzipError} If the gzip stream is truncated or corrupt.
 * @throws {InputTooLargeError} If the file, or what it decompresses to, is over 64 MiB (`MAX_INPUT_BYTES`).
 * @throws {NihFormatError} See {@linkcode parseEntries}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileSync } from "node:fs";
 * import { gzipSync } from "node:zlib";
 * const path = Deno.makeTempFileSync({ suffix: ".csv.gz" });
 * writeFileSync(path, gzipSync("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender," +
 *   "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n" +
 *   "00000002_000.png,No Finding,0,2,80,M,PA,2500,2048,0.171,0.171\n"));
 * const table = readEntries(path);
 * assert.equal(table.variant, "v2020");
 * assert.equal(table.entries[0]?.age, 80);
 * assert.equal(table.sha256.length, 64);
 * Deno.removeSync(path);
 * ```
 */
export function readEntries(path: string): EntryTable {
  const input = readInputFile(path);
  return { ...parseEntries(input.text, { file: input.name }), sha256: input.sha256 };
}
