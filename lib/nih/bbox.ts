/**
 * `BBox_List_2017.csv`: the 984 hand-drawn bounding boxes on 880 images (8 findings), plain or gzipped.
 * The file spells Infiltration `Infiltrate`; it is read as `Infiltration`.
 *
 * @module
 */
import {
  BBOX_HEADER,
  fieldColumn,
  IMAGE_NAME,
  quoteFound,
  type RawBBoxRow,
  readInputFile,
  splitLines,
} from "./_format.ts";
import { type Finding, FINDINGS, toFinding } from "./classes.ts";
import { NihFormatError } from "./errors.ts";

/** One bounding box, in pixels of the 1024x1024 image. */
export interface BoundingBox {
  /** Image name, e.g. `00013118_008.png`. */
  image: string;
  /** Patient id from the name's prefix. */
  patientId: number;
  /** The finding boxed. */
  finding: Finding;
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  w: number;
  h: number;
}

/** A parsed box file. */
export interface BoundingBoxTable {
  /** The file name used in messages. */
  file: string;
  /** The boxes in file order. */
  boxes: BoundingBox[];
  /** Hex sha256 of the file as stored; empty when parsed from text. */
  sha256: string;
}

const NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/**
 * Parses the text of `BBox_List_2017.csv`. The header is `Image Index,Finding Label,Bbox [x,y,w,h]` followed by
 * optional empty fields (the real file has three); rows have 6 fields.
 *
 * @param text The file's text.
 * @param options `file`: name for messages (default `"BBox_List_2017.csv"`).
 * @throws {NihFormatError} On a wrong header, a wrong field count, a bad image name, an unknown finding or a
 *   non-numeric coordinate.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const t = parseBoundingBoxes("Image Index,Finding Label,Bbox [x,y,w,h],,,\n00013118_008.png,Infiltrate,225.08,547.0,86.7,79.1\n");
 * assert.equal(t.boxes[0]?.finding, "Infiltration");
 * assert.equal(t.boxes[0]?.patientId, 13118);
 * assert.throws(() => parseBoundingBoxes("Image Index,Finding Label,Bbox [x,y,w,h]\nx.png,Mass,1,2,3,4\n"), /line 2, column 1/);
 * ```
 */
export function parseBoundingBoxes(text: string, options: { file?: string } = {}): BoundingBoxTable {
  const file = options.file ?? "BBox_List_2017.csv";
  const lines = splitLines(text);
  const header = (lines[0] ?? "").replace(/^\uFEFF/, "").split(",");
  for (let i = 0; i < header.length || i < BBOX_HEADER.length; i++) {
    const want = i < BBOX_HEADER.length ? BBOX_HEADER[i] : "";
    const got = header[i];
    if (got !== want) {
      // Field 1 is not quoted: a file that is not a box list at all (a key passed by mistake) stays unprinted.
      const found = got === undefined ? "nothing" : i === 0 ? "something else" : quoteFound(got);
      throw new NihFormatError(
        `header field ${i + 1} must be ${want === "" ? "empty" : `"${want}"`}, found ${found}` +
          ` (expected "Image Index,Finding Label,Bbox [x,y,w,h]" and optional trailing commas)`,
        file,
        1,
        fieldColumn(header, i),
      );
    }
  }
  const boxes: BoundingBox[] = [];
  for (const [n, line] of lines.entries()) {
    if (n === 0) continue;
    const f = line.split(",") as RawBBoxRow;
    const fail = (i: number, reason: string): never => {
      throw new NihFormatError(reason, file, n + 1, fieldColumn(f, i));
    };
    const want = BBOX_HEADER.length;
    // Too few: point just past the end of the line; too many: at the first extra field.
    if (f.length !== want) fail(Math.min(f.length, want), `expected ${want} fields, found ${f.length}`);
    const m = IMAGE_NAME.exec(f[0]);
    if (!m) fail(0, `"Image Index" must be a name like 00000001_000.png, found "${f[0]}"`);
    const finding = toFinding(f[1]);
    if (!finding) {
      fail(1, `unknown finding "${f[1]}"; valid findings: ${FINDINGS.join(", ")} (or Infiltrate)`);
    }
    const num = (i: 2 | 3 | 4 | 5): number =>
      NUMBER.test(f[i]) ? Number(f[i]) : fail(i, `expected a number, found "${f[i]}"`);
    boxes.push({
      image: f[0],
      patientId: Number(m![1]),
      finding: finding!,
      x: num(2),
      y: num(3),
      w: num(4),
      h: num(5),
    });
  }
  return { file, boxes, sha256: "" };
}

/**
 * Reads and parses a box file, plain or gzipped (detected by its magic bytes).
 *
 * @throws {GzipError} If the gzip stream is truncated or corrupt.
 * @throws {NihFormatError} See {@linkcode parseBoundingBoxes}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileSync } from "node:fs";
 * const path = Deno.makeTempFileSync({ suffix: ".csv" });
 * writeFileSync(path, "Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000003_001.png,Mass,1,2,3,4\n");
 * assert.equal(readBoundingBoxes(path).boxes.length, 1);
 * Deno.removeSync(path);
 * ```
 */
export function readBoundingBoxes(path: string): BoundingBoxTable {
  const input = readInputFile(path);
  return { ...parseBoundingBoxes(input.text, { file: input.name }), sha256: input.sha256 };
}

/**
 * The patients that have at least one bounding box, ascending.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const b = (image: string, patientId: number) => ({ image, patientId, finding: "Mass" as const, x: 0, y: 0, w: 1, h: 1 });
 * assert.deepEqual(boxedPatients([b("00000009_001.png", 9), b("00000002_000.png", 2), b("00000009_000.png", 9)]), [2, 9]);
 * ```
 */
export function boxedPatients(boxes: readonly BoundingBox[]): number[] {
  return [...new Set(boxes.map((b) => b.patientId))].sort((a, b) => a - b);
}
