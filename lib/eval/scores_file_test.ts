import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { FINDINGS, parseEntries, parseSplitList } from "../nih/mod.ts";
import { mulberry32 } from "../random.ts";
import { evaluateScores, EvaluationInputError } from "./evaluate.ts";
import {
  checkShards,
  evaluateScoreFiles,
  labelScores,
  mergeScores,
  parseScoresCsv,
  parseScoresJsonl,
  parseScoresText,
  readScores,
  ScoresConflictError,
  ScoresFileError,
} from "./scores_file.ts";

const HEADER = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position," +
  "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]";

function name(i: number): string {
  return `${String(i + 1).padStart(8, "0")}_000.png`;
}

/** A `cxr score` line, as batch.ts writes it. */
function line(image: string, values: ArrayLike<number>, version = "v1"): string {
  const probabilities = Object.fromEntries(FINDINGS.map((f, k) => [f, values[k]]));
  return JSON.stringify({
    image,
    model: { name: "densenet121", version },
    probabilities,
    top: { class: "Mass", probability: values[4] },
  });
}

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "cxr-scores-test-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** `n` images with labels cycling so every class but Hernia has both, and scores that follow the labels. */
function synthetic(n: number, seed = 7) {
  const rnd = mulberry32(seed);
  const labels = new Uint8Array(n * 14), scores = new Float64Array(n * 14);
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const found: string[] = [];
    for (let k = 0; k < 14; k++) {
      const y = k < 13 && (i * 7 + k * 3) % 5 === 0 ? 1 : 0;
      labels[i * 14 + k] = y;
      // float32 precision, as a model writes them; equal values occur (ties)
      scores[i * 14 + k] = Math.fround(Math.round((0.25 * y + rnd() * 0.75) * 50) / 50);
      if (y) found.push(FINDINGS[k]);
    }
    const pid = i + 1;
    rows.push(`${name(i)},${found.join("|") || "No Finding"},0,${pid},40,F,PA,2500,2048,0.143,0.143`);
  }
  return { labels, scores, entries: parseEntries(`${HEADER}\n${rows.join("\n")}\n`, { file: "e.csv" }) };
}

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
  assert.deepEqual([...p.rows[1].scores], v);
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
  assert.deepEqual([...a.rows[0].scores], v);
  assert.deepEqual([...b.rows[0].scores], v);
  assert.equal(b.rows[0].image, "images/00000001_000.png");
  assert.equal(b.rows[0].source, "b.csv:2");
  assert.deepEqual(b.ignored, [""]);
  assert.equal(b.rows.length, 1);
  assert.equal(parseScoresText(plain, "scores.txt").format, "csv");
  assert.equal(parseScoresText(line("x.png", v), "scores.txt").format, "jsonl");
  // Scores need not be probabilities: logits rank the same.
  assert.equal(parseScoresCsv(plain.replace(",0.01,", ",-3.5e1,"), "a.csv").rows[0].scores[0], -35);
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

Deno.test("shards: missing parts named per folder; out-of-range index and mixed counts refused", () => {
  assert.deepEqual(checkShards(["a/shard-0-of-2.jsonl", "a/shard-1-of-2.jsonl.gz", "b/shard-1-of-4.jsonl"]), [
    "b/shard-0-of-4.jsonl",
    "b/shard-2-of-4.jsonl",
    "b/shard-3-of-4.jsonl",
  ]);
  assert.deepEqual(checkShards(["scores.jsonl", "x.csv"]), []);
  assert.throws(
    () => checkShards(["blob:models/scores/shard-1-of-3.jsonl", "blob:models/scores/shard-3-of-3.jsonl"]),
    (e: unknown) =>
      e instanceof ScoresConflictError && /shard-3-of-3\.jsonl" is shard 3 of 3/.test(e.message) &&
      e.sources[0] === "blob:models/scores/shard-3-of-3.jsonl",
  );
  assert.throws(
    () => checkShards(["s/shard-0-of-2.jsonl", "s/shard-1-of-3.jsonl"]),
    /"s" holds the shards of runs with different shard counts \(shard-\*-of-2, shard-\*-of-3\)/,
  );
});

Deno.test("merge: duplicates within tolerance counted once, different scores and mixed versions refused", () => {
  const v = new Array(14).fill(0.25);
  const a = parseScoresJsonl(
    `${line("images/00000001_000.png", v)}\n${line("00000002_000.png", v)}\n`,
    "d/a.jsonl",
  );
  const b = parseScoresJsonl(
    `${line("00000001_000.png", v.map((x) => x + 1e-8))}\n` +
      '{"image": "00000002_000.png", "error": {"code": "busy", "message": "queue full"}}\n' +
      '{"image": "00000003_000.png", "error": {"code": "bad_image", "message": "not a PNG"}}\n',
    "d/b.jsonl",
  );
  const set = mergeScores([a, b]);
  assert.deepEqual([...set.rows.keys()], ["00000001_000.png", "00000002_000.png"]);
  assert.equal(set.rows.get("00000001_000.png")!.source, "d/a.jsonl:1");
  assert.deepEqual(set.duplicates, [{ image: "00000001_000.png", sources: ["d/a.jsonl:1", "d/b.jsonl:1"] }]);
  assert.equal(set.lines, 3);
  assert.equal(set.errors.length, 2);
  assert.equal(set.modelVersion, "v1");

  const c = parseScoresJsonl(line("00000001_000.png", v.map((x, k) => (k === 4 ? 0.75 : x))), "d/c.jsonl");
  assert.throws(() => mergeScores([a, c]), (e: unknown) => {
    assert.ok(e instanceof ScoresConflictError);
    assert.match(
      e.message,
      /"00000001_000.png" is scored twice with different scores: d\/a.jsonl:1 and d\/c.jsonl:1 \(Mass 0.25 and 0.75\)/,
    );
    assert.deepEqual(e.sources, ["d/a.jsonl:1", "d/c.jsonl:1"]);
    return true;
  });
  assert.equal(mergeScores([a, c], { tolerance: 1 }).duplicates.length, 1);

  const other = parseScoresJsonl(line("00000009_000.png", v, "v2"), "d/other.jsonl");
  assert.throws(
    () => mergeScores([a, other]),
    /The scores come from 2 model versions: "v1" \(d\/a.jsonl:1\), "v2" \(d\/other.jsonl:1\); evaluate one model/,
  );
  // A CSV carries no version: it mixes with one JSONL version.
  const csv = parseScoresCsv(`Image Index,${FINDINGS.join(",")}\n00000009_000.png,${v.join(",")}\n`, "o.csv");
  assert.equal(mergeScores([a, csv]).modelVersion, "v1");
  assert.equal(mergeScores([csv]).modelVersion, null);
});

Deno.test(
  "readScores: folders take *.jsonl(.gz) only, files once however named, gzip, missing paths",
  withDir(async (dir) => {
    const v = new Array(14).fill(0.5);
    writeFileSync(join(dir, "shard-0-of-3.jsonl"), line(name(0), v) + "\n");
    writeFileSync(join(dir, "shard-2-of-3.jsonl.gz"), gzipSync(line(name(2), v) + "\n"));
    writeFileSync(join(dir, "shard-1-of-3.jsonl.partial-99"), "half a line");
    writeFileSync(join(dir, "Data_Entry_2017.csv"), "not scores");
    writeFileSync(join(dir, "other.csv"), `image,${FINDINGS.join(",")}\n${name(5)},${v.join(",")}\n`);
    const set = await readScores([dir, join(dir, "shard-0-of-3.jsonl"), join(dir, "other.csv")]);
    assert.deepEqual(set.files, [
      join(dir, "shard-0-of-3.jsonl"),
      join(dir, "shard-2-of-3.jsonl.gz"),
      join(dir, "other.csv"),
    ]);
    assert.deepEqual([...set.rows.keys()], [name(0), name(2), name(5)]);
    assert.deepEqual(set.missingShards, [join(dir, "shard-1-of-3.jsonl")]);
    assert.equal(set.duplicates.length, 0);
    await assert.rejects(
      () => readScores([join(dir, "nope.jsonl")]),
      /Cannot read scores ".*nope.jsonl": no such/,
    );
    const empty = join(dir, "empty");
    Deno.mkdirSync(empty);
    await assert.rejects(() => readScores([empty]), EvaluationInputError);
    await assert.rejects(() => readScores(["blob:models/scores/"]), /needs options.openStore/);
    writeFileSync(join(dir, "bad.jsonl.gz"), gzipSync("x").subarray(0, 8));
    await assert.rejects(() => readScores([join(dir, "bad.jsonl.gz")]), /Cannot decompress ".*bad.jsonl.gz"/);
  }),
);

Deno.test("labelScores: list scope, missing, unlabeled, outside the list; names matched by base name", () => {
  const { entries } = synthetic(6);
  const v = new Array(14).fill(0.5);
  const set = mergeScores([
    parseScoresJsonl([4, 0, 2, 99].map((i) => line(`images/${name(i)}`, v)).join("\n"), "s.jsonl"),
  ]);
  const all = labelScores(set, entries);
  assert.deepEqual(all.images, [name(0), name(2), name(4)]);
  assert.deepEqual(all.unlabeled, [name(99)]);
  assert.deepEqual([all.missing, all.outsideList], [[], []]);
  const list = parseSplitList([name(5), name(2), name(99), name(1)].join("\n"), { file: "test_list.txt" });
  const listed = labelScores(set, entries, list);
  assert.deepEqual(listed.images, [name(2)]);
  assert.deepEqual(listed.missing, [name(5), name(1)]);
  assert.deepEqual(listed.unlabeled, [name(99)]);
  assert.deepEqual(listed.outsideList, [name(0), name(4)]);
  assert.deepEqual([...listed.labels], [...entries.entries[2].labels]);
});

Deno.test(
  "evaluateScoreFiles: JSONL shards in any order and a CSV give evaluateScores' numbers on the same scores",
  withDir(async (dir) => {
    const n = 300;
    const { labels, scores, entries } = synthetic(n);
    const expected = evaluateScores(scores, labels, FINDINGS, { bootstrap: 200, seed: 5 }).json;
    // Shards hold the images in a shuffled order, with an error line and an exact repeat.
    const order = Array.from({ length: n }, (_, i) => (i * 7) % n);
    const lines = order.map((i) => line(`images/${name(i)}`, scores.subarray(i * 14, i * 14 + 14)));
    lines.splice(
      10,
      0,
      '{"image": "images/00000001_000.png", "error": {"code": "busy", "message": "retry"}}',
    );
    lines.push(lines[20]);
    const per = Math.ceil(lines.length / 3);
    for (let s = 0; s < 3; s++) {
      writeFileSync(
        join(dir, `shard-${s}-of-3.jsonl`),
        lines.slice(s * per, (s + 1) * per).join("\n") + "\n",
      );
    }
    const fromJsonl = await evaluateScoreFiles([dir], entries, { bootstrap: 200, seed: 5 });
    const csv = join(dir, "other.csv");
    writeFileSync(
      csv,
      `Image Index,${FINDINGS.map((f) => `prob_${f}`).join(",")}\n` +
        Array.from(
          { length: n },
          (_, i) => `${name(n - 1 - i)},${scores.subarray((n - 1 - i) * 14, (n - i) * 14).join(",")}`,
        )
          .join("\n"),
    );
    const fromCsv = await evaluateScoreFiles([csv], entries, { bootstrap: 200, seed: 5 });
    for (const r of [fromJsonl, fromCsv]) {
      const j = r.report.json;
      assert.equal(j.images, n);
      assert.deepEqual(j.classes, expected.classes);
      assert.deepEqual(j.mean, expected.mean);
      assert.deepEqual(j.bootstrap, expected.bootstrap);
      assert.equal(j.format, "cxr-eval/1");
      assert.equal(j.partition, "all scored");
    }
    assert.ok(expected.classes.Mass.auroc! > 0.6 && expected.classes.Mass.ci !== null);
    assert.deepEqual(fromJsonl.report.json.model, { version: "v1", engine: "scores", source: dir });
    assert.deepEqual(fromCsv.report.json.model, { version: "unknown", engine: "scores", source: csv });
    const s = fromJsonl.summary;
    assert.deepEqual([s.files.length, s.lines, s.images, s.errorLines, s.failed.count, s.duplicates.count], [
      3,
      n + 1,
      n,
      1,
      0,
      1,
    ]);
    assert.deepEqual(fromJsonl.warnings, []);
    assert.match(fromJsonl.notes.join("\n"), /1 error lines are for images scored in another line/);
    assert.match(
      fromJsonl.notes.join("\n"),
      /1 images are scored twice with the same scores and counted once/,
    );
    assert.match(JSON.stringify(fromJsonl.report), /"scores":\{"sources"/);
  }),
);

Deno.test(
  "evaluateScoreFiles: warnings for missing shards, failed, missing and unlabeled images; nothing to evaluate",
  withDir(async (dir) => {
    const { scores, entries } = synthetic(40);
    const row = (i: number) => line(name(i), scores.subarray(i * 14, i * 14 + 14));
    writeFileSync(join(dir, "shard-0-of-3.jsonl"), [0, 1, 2].map(row).join("\n"));
    writeFileSync(
      join(dir, "shard-2-of-3.jsonl"),
      [3, 4].map(row).join("\n") +
        `\n{"image": "${name(5)}", "error": {"code": "bad_image", "message": "x"}}\n` +
        line(name(77), new Array(14).fill(0.5)) + "\n",
    );
    const list = parseSplitList([0, 2, 4, 5, 6, 7].map(name).join("\n"), { file: "test_list.txt" });
    const r = await evaluateScoreFiles([dir], entries, { bootstrap: 0, list });
    assert.equal(r.report.json.images, 3);
    assert.equal(r.report.json.partition, "test_list.txt");
    assert.deepEqual(r.summary.missing, { count: 3, first: [name(5), name(6), name(7)] });
    assert.deepEqual(r.summary.outsideList, { count: 3, first: [name(1), name(3), name(77)] });
    assert.deepEqual(r.summary.missingShards, [join(dir, "shard-1-of-3.jsonl")]);
    assert.deepEqual(r.summary.list, { file: "test_list.txt", images: 6, sha256: "" });
    assert.deepEqual(r.warnings, [
      `missing shard parts (their images are not evaluated): ${join(dir, "shard-1-of-3.jsonl")}`,
      `1 images failed to score (error lines, no score): ${name(5)}`,
      `3 of the 6 images in test_list.txt have no score: ${name(5)}, ${name(6)}, ${name(7)}`,
    ]);
    const all = await evaluateScoreFiles([dir], entries, { bootstrap: 0 });
    assert.equal(all.report.json.images, 5);
    assert.match(
      all.warnings.at(-1)!,
      /^1 scored images are not in e.csv and are left out: 00000078_000.png$/,
    );
    await assert.rejects(
      () => evaluateScoreFiles([dir], entries, { list: parseSplitList(name(39), { file: "l.txt" }) }),
      /Nothing to evaluate: none of the 6 scored images in l.txt has labels in "e.csv"/,
    );
  }),
);
