import assert from "node:assert/strict";
import { FINDINGS } from "../nih/mod.ts";
import { parseScoresJsonl, ScoresFileError } from "./scores_format.ts";
import { line } from "./_scores_testing.ts";

Deno.test("JSONL: score lines, error lines, blank lines, CRLF, aliases and extra names", () => {
  const v = FINDINGS.map((_, k) => k / 100);
  const alias = JSON.stringify({
    image: "images/00000002_000.png",
    model_version: "v1",
    probabilities: {
      ...Object.fromEntries(
        FINDINGS.map((f, k) => [f === "Pleural_Thickening" ? "Pleural Thickening" : f, v[k]]),
      ),
      "No Finding": 0.3,
    },
  });
  const text = `${line("00000001_000.png", v)}\r\n\r\n${alias}\r\n` +
    '{"image": "00000003_000.png", "error": {"code": "not_found", "message": "no such blob"}}\r\n';
  const p = parseScoresJsonl(text, "shard-0-of-1.jsonl");
  assert.equal(p.format, "jsonl");
  assert.deepEqual(p.rows.map((r) => [r.image, r.source, r.modelVersion]), [
    ["00000001_000.png", "shard-0-of-1.jsonl:1", "v1"],
    ["images/00000002_000.png", "shard-0-of-1.jsonl:3", "v1"],
  ]);
  assert.deepEqual([...p.rows[1]?.scores ?? []], v);
  assert.deepEqual(p.errors, [{
    image: "00000003_000.png",
    source: "shard-0-of-1.jsonl:4",
    code: "not_found",
    message: "no such blob",
  }]);
  assert.deepEqual(p.ignored, ["No Finding"]);
});

Deno.test("JSONL: malformed lines name file, line and column", () => {
  const good = line("00000001_000.png", new Array(14).fill(0.5));
  const cases: [string, RegExp][] = [
    [`${good}\n{"image": "a.png", "probabilities": {`, /"s.jsonl" at line 2, column 38: invalid JSON/],
    [`${good}\n[1, 2]`, /line 2, column 1: expected an object/],
    [`${good}\n{"probabilities": {}}`, /line 2, column 1: "image" must be a non-empty string/],
    [
      good.replace('"Mass":0.5', '"Mass":"high"'),
      /line 1, column \d+: the score of "Mass" must be a number, found "high"/,
    ],
    [good.replace('"Mass":0.5', '"Mass":null'), /the score of "Mass" must be a number, found null/],
    [
      good.replace(',"Hernia":0.5', ""),
      new RegExp(`line 1, column ${good.indexOf('"probabilities"') + 1}: "probabilities" has no Hernia$`),
    ],
    [
      good.replace('"Pleural_Thickening":0.5', '"Pleural_Thickening":0.5,"Pleural Thickening":0.5'),
      /"Pleural Thickening" repeats Pleural_Thickening/,
    ],
    [`{"image": "a.png", "probabilities": [0.5]}`, /column 20: "probabilities" must be an object/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => parseScoresJsonl(text, "s.jsonl"), (e: unknown) => {
      assert.ok(e instanceof ScoresFileError && e instanceof SyntaxError, String(e));
      assert.equal(e.file, "s.jsonl");
      assert.match(e.message, pattern);
      return true;
    });
  }
  // The column points at the offending key, inside "probabilities" rather than "top".
  const bad = good.replace('"Mass":0.5', '"Mass":"x"');
  assert.throws(() => parseScoresJsonl(bad, "s.jsonl"), (e: unknown) => {
    assert.equal((e as ScoresFileError).column, bad.indexOf('"Mass":"x"') + 1);
    return true;
  });
});
