import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { FINDINGS, parseSplitList } from "../nih/mod.ts";
import { evaluateScores } from "./evaluate.ts";
import { evaluateScoreFiles } from "./scores_evaluation.ts";
import { line, name, synthetic } from "./_scores_testing.ts";
import { tempDir } from "../../tests/_fixtures.ts";

Deno.test(
  "evaluateScoreFiles: JSONL shards in any order and a CSV give evaluateScores' numbers on the same scores",
  async () => {
    using tmp = tempDir("cxr-scores-test-");
    const dir = tmp.path;
    const n = 300;
    const { labels, scores, entries } = synthetic(n);
    const expected = evaluateScores(scores, labels, FINDINGS, { bootstrap: 200, seed: 5 }).json;
    // Shards hold the images in a shuffled order, with an error line and an exact repeat.
    const order = Array.from({ length: n }, (_, i) => (i * 7) % n);
    const lines = order.map((i) => line(`images/${name(i)}`, scores.subarray(i * 14, i * 14 + 14)));
    const busy = '{"image": "images/00000001_000.png", "error": {"code": "busy", "message": "retry"}}';
    lines.splice(10, 0, busy);
    lines.push(lines[20]!);
    const per = Math.ceil(lines.length / 3);
    for (let s = 0; s < 3; s++) {
      writeFileSync(
        join(dir, `shard-${s}-of-3.jsonl`),
        lines.slice(s * per, (s + 1) * per).join("\n") + "\n",
      );
    }
    const fromJsonl = await evaluateScoreFiles([dir], entries, { bootstrap: 200, seed: 5 });
    const csv = join(dir, "other.csv");
    const reversed = Array.from({ length: n }, (_, k) => n - 1 - k);
    const csvRows = reversed.map((i) => `${name(i)},${scores.subarray(i * 14, i * 14 + 14).join(",")}`);
    writeFileSync(csv, `Image Index,${FINDINGS.map((f) => `prob_${f}`).join(",")}\n${csvRows.join("\n")}`);
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
    assert.ok(
      expected.classes.Mass && expected.classes.Mass.auroc! > 0.6 && expected.classes.Mass.ci !== null,
    );
    assert.deepEqual(fromJsonl.report.json.model, { version: "v1", engine: "scores", source: dir });
    assert.deepEqual(fromCsv.report.json.model, { version: "unknown", engine: "scores", source: csv });
    const s = fromJsonl.summary;
    assert.deepEqual(
      [s.files.length, s.lines, s.images, s.errorLines, s.failed.count, s.duplicates.count],
      [3, n + 1, n, 1, 0, 1],
    );
    assert.deepEqual(fromJsonl.warnings, []);
    const notes = fromJsonl.notes.join("\n");
    assert.match(notes, /1 error lines are for images scored in another line/);
    assert.match(notes, /1 images are scored twice with the same scores and counted once/);
    assert.match(JSON.stringify(fromJsonl.report), /"scores":\{"sources"/);
  },
);

Deno.test(
  "evaluateScoreFiles: warnings for missing shards, failed, missing and unlabeled images; nothing to evaluate",
  async () => {
    using tmp = tempDir("cxr-scores-test-");
    const dir = tmp.path;
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
  },
);
