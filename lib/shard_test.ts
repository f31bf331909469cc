import assert from "node:assert/strict";
import { parseShard, selectShard } from "./shard.ts";

Deno.test("selectShard: the shards of any list cover every item exactly once, in order", () => {
  for (let n = 0; n <= 23; n++) {
    const items = Array.from({ length: n }, (_, i) => i);
    for (let count = 1; count <= 7; count++) {
      const joined = Array.from({ length: count }, (_, index) => selectShard(items, { index, count })).flat();
      assert.deepEqual(joined, items, `n=${n}, count=${count}`);
    }
  }
});

Deno.test("parseShard: i/N, env/N from JOB_COMPLETION_INDEX, and clear refusals", () => {
  assert.deepEqual(parseShard(" 0/1 "), { index: 0, count: 1 });
  assert.deepEqual(parseShard("env/3", { JOB_COMPLETION_INDEX: "2" }), { index: 2, count: 3 });
  assert.throws(() => parseShard("env/3", { JOB_COMPLETION_INDEX: "3" }), /0 <= i < N, got 3\/3/);
  assert.throws(() => parseShard("env/3", { JOB_COMPLETION_INDEX: "x" }), /non-negative integer, got "x"/);
  assert.throws(() => parseShard("1/0"), RangeError);
  assert.throws(() => parseShard("1-4"), /i\/N .* or env\/N, got "1-4"/);
  assert.throws(() => parseShard("-1/4"), RangeError);
});
