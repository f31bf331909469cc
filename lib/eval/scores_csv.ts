/**
 * Scores of another model as CSV: a header with `Image Index` and one column per finding (`Atelectasis` or
 * `prob_Atelectasis`), one row per image.
 *
 * @module
 */
import { findingIndex, FINDINGS } from "../nih/mod.ts";
import { type ParsedScores, type ScoreRow, ScoresFileError } from "./scores_format.ts";

const C = FINDINGS.length;

/** Splits one CSV line into fields (RFC 4180 quotes, `""` inside them) with each field's 1-based column. */
function csvFields(
  line: string,
  where: { file: string; line: number },
): { values: string[]; columns: number[] } {
  const values: string[] = [], columns: number[] = [];
  for (let i = 0;;) {
    columns.push(i + 1);
    if (line[i] === '"') {
      let v = "";
      for (i++;;) {
        const q = line.indexOf('"', i);
        if (q < 0) {
          throw new ScoresFileError("unterminated quoted field", { ...where, column: columns.at(-1)! });
        }
        v += line.slice(i, q);
        i = q + 1;
        if (line[i] !== '"') break;
        v += '"';
        i++;
      }
      if (i < line.length && line[i] !== ",") {
        throw new ScoresFileError('expected "," after a quoted field', { ...where, column: i + 1 });
      }
      values.push(v);
    } else {
      const c = line.indexOf(",", i);
      const end = c < 0 ? line.length : c;
      values.push(line.slice(i, end));
      i = end;
    }
    if (i >= line.length) return { values, columns };
    i++;
  }
}

/**
 * Parses a CSV of scores: a header with `Image Index` (or `image`) and one column per finding, named as the
 * finding (`Atelectasis`, `Pleural_Thickening` or `Pleural Thickening`) or with a `prob_` prefix; other
 * columns (an unnamed index, `No Finding`) are left out and listed in `ignored`. Fields may be quoted; blank
 * lines are skipped; scores need only be finite numbers (AUROC uses their order, so logits do too).
 *
 * @param text The file's text.
 * @param file Its name, for messages and `source`.
 * @throws {ScoresFileError} When no column holds the image name, a finding has no column (listing which),
 *   two columns name the same finding, a row's field count differs from the header's, or a score is not a
 *   number (line and column of the field).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FINDINGS } from "../nih/mod.ts";
 * const header = ["Image Index", ...FINDINGS.map((f) => `prob_${f.replace("_", " ")}`), "No Finding"].join(",");
 * const row = ["00000001_000.png", ...FINDINGS.map((_, k) => k / 20), 0.5].join(",");
 * const p = parseScoresCsv(`${header}\r\n${row}\r\n`, "other_model.csv");
 * assert.equal(p.rows[0]?.scores[12], 0.6); // "prob_Pleural Thickening"
 * assert.deepEqual(p.ignored, ["No Finding"]);
 * assert.throws(() => parseScoresCsv("Image Index,Atelectasis\n", "o.csv"), /line 1, column 1: no column for Cardiomegaly, Effusion/);
 * assert.throws(() => parseScoresCsv(`${header}\n${row.replace(",0.05,", ",high,")}`, "o.csv"),
 *   /"o.csv" at line 2, column 20: "prob_Cardiomegaly" must be a number, found "high"/);
 * ```
 */
export function parseScoresCsv(text: string, file = "scores.csv"): ParsedScores {
  const fail = (reason: string, line: number, column: number): never => {
    throw new ScoresFileError(reason, { file, line, column });
  };
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  const head = (lines[0] ?? "").replace(/^\uFEFF/, "");
  if (head.trim() === "") {
    fail('expected a header with "Image Index" and the 14 findings, found an empty line', 1, 1);
  }
  const header = csvFields(head, { file, line: 1 });
  const names = header.values.map((h) => h.trim());
  let imageColumn = -1;
  const columnOf = new Int32Array(C).fill(-1);
  const ignored: string[] = [];
  names.forEach((name, i) => {
    if (name === "Image Index" || name === "image") {
      if (imageColumn >= 0) {
        fail(`two image columns, "${names[imageColumn]}" and "${name}"`, 1, header.columns[i]!);
      }
      imageColumn = i;
      return;
    }
    const k = findingIndex(name.startsWith("prob_") ? name.slice(5) : name);
    if (k < 0) return void ignored.push(name);
    if (columnOf[k]! >= 0) {
      fail(`columns "${names[columnOf[k]!]}" and "${name}" both name ${FINDINGS[k]}`, 1, header.columns[i]!);
    }
    columnOf[k] = i;
  });
  if (imageColumn < 0) fail('no "Image Index" column', 1, 1);
  const missing = FINDINGS.filter((_, k) => columnOf[k]! < 0);
  if (missing.length > 0) {
    fail(
      `no column for ${missing.join(", ")}; name each finding as "Atelectasis" or "prob_Atelectasis"`,
      1,
      1,
    );
  }
  const rows: ScoreRow[] = [];
  // Below, indices into a row's fields are below names.length, which the row's length was checked against.
  for (const [n, line] of lines.entries()) {
    if (n === 0 || line.trim() === "") continue;
    const f = csvFields(line, { file, line: n + 1 });
    if (f.values.length !== names.length) {
      const column = f.values.length > names.length ? f.columns[names.length]! : line.length + 1;
      fail(`expected ${names.length} fields as in the header, found ${f.values.length}`, n + 1, column);
    }
    const image = f.values[imageColumn]!.trim();
    if (image === "") fail(`"${names[imageColumn]}" is empty`, n + 1, f.columns[imageColumn]!);
    const scores = new Float64Array(C);
    for (let k = 0; k < C; k++) {
      const i = columnOf[k]!;
      const v = f.values[i]!.trim();
      const x = v === "" ? NaN : Number(v);
      if (!Number.isFinite(x)) fail(`"${names[i]}" must be a number, found "${v}"`, n + 1, f.columns[i]!);
      scores[k] = x;
    }
    rows.push({ image, scores, source: `${file}:${n + 1}` });
  }
  return { file, format: "csv", rows, errors: [], ignored };
}
