import assert from "node:assert/strict";
import { FINDINGS } from "../nih/mod.ts";
import { parseScoresJsonl } from "./scores_format.ts";
import { parseScoresCsv } from "./scores_csv.ts";
import { ScoresConflictError } from "./errors.ts";
import { checkShards, mergeScores } from "./scores_merge.ts";
import { line } from "./_scores_testing.ts";

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
