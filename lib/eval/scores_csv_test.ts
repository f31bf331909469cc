import assert from "node:assert/strict";
import { FINDINGS } from "../nih/mod.ts";
import { ScoresFileError } from "./scores_format.ts";
import { parseScoresCsv } from "./scores_csv.ts";
import { parseScoresText } from "./scores_file.ts";
import { line } from "./_scores_testing.ts";

Deno.test("CSV: both header spellings, quotes, BOM, an index column; rows in FINDINGS order", () => {
  const v = FINDINGS.map((_, k) => (k + 1) / 100);
  const plain = `Image Index,${FINDINGS.join(",")}\n00000001_000.png,${v.join(",")}\n`;
  // A BOM, an unnamed index column (pandas), quoted names, prob_ prefixes, "Pleural Thickening", reversed order.
  const names = [...FINDINGS].reverse().map((f) => `"prob_${f.replace("_", " ")}"`);
  const prob = `\uFEFF,"Image Index",${names.join(",")}\r\n0,"images/00000001_000.png",${
    [...v].reverse().join(",")
  }\r\n\r\n`;
  const a = parseScoresCsv(plain, "a.csv");
  const b = parseScoresCsv(prob, "b.csv");
  const [first] = b.rows;
  assert.deepEqual([...a.rows[0]?.scores ?? []], v);
  assert.deepEqual([...first?.scores ?? []], v);
  assert.equal(first?.image, "images/00000001_000.png");
  assert.equal(first?.source, "b.csv:2");
  assert.deepEqual(b.ignored, [""]);
  assert.equal(b.rows.length, 1);
  assert.equal(parseScoresText(plain, "scores.txt").format, "csv");
  assert.equal(parseScoresText(line("x.png", v), "scores.txt").format, "jsonl");
  // Scores need not be probabilities: logits rank the same.
  assert.equal(parseScoresCsv(plain.replace(",0.01,", ",-3.5e1,"), "a.csv").rows[0]?.scores[0], -35);
});

Deno.test("CSV: missing or doubled columns and malformed rows name file, line and column", () => {
  const header = `Image Index,${FINDINGS.join(",")}`;
  const row = `00000001_000.png,${FINDINGS.map(() => "0.5").join(",")}`;
  const cases: [string, RegExp][] = [
    [
      `Image Index,${FINDINGS.filter((f) => f !== "Hernia" && f !== "Edema").join(",")}\n`,
      /"x.csv" at line 1, column 1: no column for Edema, Hernia; name each finding as "Atelectasis" or "prob_Atelectasis"/,
    ],
    [`${FINDINGS.join(",")}\n`, /line 1, column 1: no "Image Index" column/],
    [
      `${header},prob_Mass\n`,
      new RegExp(`line 1, column ${header.length + 2}: columns "Mass" and "prob_Mass" both name Mass`),
    ],
    [
      `${header}\n${row}\n${row},0.1\n`,
      new RegExp(`line 3, column ${row.length + 2}: expected 15 fields as in the header, found 16`),
    ],
    [
      `${header}\n${row.slice(0, -4)}\n`,
      new RegExp(`line 2, column ${row.length - 3}: expected 15 fields as in the header, found 14`),
    ],
    [
      `${header}\n${row.replace(/0\.5$/, "NaN")}\n`,
      new RegExp(`line 2, column ${row.length - 2}: "Hernia" must be a number, found "NaN"`),
    ],
    [
      `${header}\n${row.replace(",0.5,", ",,")}\n`,
      /line 2, column 18: "Atelectasis" must be a number, found ""/,
    ],
    [`${header}\n,${row.slice(17)}\n`, /line 2, column 1: "Image Index" is empty/],
    [`${header}\n"00000001_000.png${row.slice(16)}\n`, /line 2, column 1: unterminated quoted field/],
    [
      `${header}\n"00000001_000.png"x${row.slice(16)}\n`,
      /line 2, column 19: expected "," after a quoted field/,
    ],
    ["", /line 1, column 1: expected a header/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseScoresCsv(text, "x.csv"), (e: unknown) => {
      assert.ok(e instanceof ScoresFileError, String(e));
      assert.match(e.message, pattern);
      return true;
    });
  }
});
