import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { FINDINGS } from "../nih/mod.ts";
import { EvaluationInputError } from "./errors.ts";
import { readScores } from "./scores_file.ts";
import { line, name } from "./_scores_testing.ts";
import { tempDir } from "../../tests/_fixtures.ts";

Deno.test(
  "readScores: folders take *.jsonl(.gz) only, files once however named, gzip, missing paths",
  async () => {
    using tmp = tempDir("cxr-scores-test-");
    const dir = tmp.path;
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
  },
);
