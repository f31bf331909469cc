import assert from "node:assert/strict";
import { parseSplitList } from "../nih/mod.ts";
import { parseScoresJsonl } from "./scores_format.ts";
import { mergeScores } from "./scores_merge.ts";
import { labelScores } from "./scores_labels.ts";
import { line, name, synthetic } from "./_scores_testing.ts";

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
  assert.deepEqual([...listed.labels], [...entries.entries[2]?.labels ?? []]);
});
