import assert from "node:assert/strict";
import { mapPool } from "./pool.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("mapPool: results in input order whatever the completion order; an empty list does nothing", async () => {
  const finished: number[] = [];
  const out = await mapPool([30, 1, 20, 2, 10], 3, async (ms, i) => {
    await sleep(ms);
    finished.push(i);
    return `${i}:${ms}`;
  });
  assert.deepEqual(out, ["0:30", "1:1", "2:20", "3:2", "4:10"]);
  assert.notDeepEqual(finished, [0, 1, 2, 3, 4]);
  assert.deepEqual(await mapPool([], 4, () => Promise.reject(new Error("never"))), []);
  await assert.rejects(mapPool([1], 0, async () => {}), /concurrency must be a positive integer, got 0/);
});

Deno.test("mapPool: the first error stops new items and waits for those in flight before it rejects", async () => {
  const started: number[] = [];
  const settled: number[] = [];
  await assert.rejects(
    mapPool([0, 1, 2, 3, 4, 5], 3, async (n) => {
      started.push(n);
      await sleep(n === 0 ? 1 : 15);
      settled.push(n);
      if (n === 0) throw new Error("first");
      if (n === 1) throw new Error("second");
    }),
    /first/,
  );
  assert.deepEqual(started, [0, 1, 2]);
  assert.deepEqual(settled.sort(), [0, 1, 2]);
});
