import assert from "node:assert/strict";
import { ConcurrencyLimiter, QueueFullError } from "./limiter.ts";

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => open = r);
  return { wait, open };
}

Deno.test("ConcurrencyLimiter: slots pass to waiters in arrival order", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 2, maxQueue: 3 });
  const order: string[] = [];
  const gates = [gate(), gate()];
  const task = (name: string, g?: { wait: Promise<void> }) => async () => {
    order.push(`start ${name}`);
    if (g) await g.wait;
    return name;
  };
  const runs = [
    limiter.run(task("a", gates[0])),
    limiter.run(task("b", gates[1])),
    limiter.run(task("c")),
    limiter.run(task("d")),
  ];
  assert.deepEqual([limiter.running, limiter.queued], [2, 2]);
  gates[1].open();
  await runs[1];
  gates[0].open();
  assert.deepEqual(await Promise.all(runs), ["a", "b", "c", "d"]);
  assert.deepEqual(order, ["start a", "start b", "start c", "start d"]);
  assert.deepEqual([limiter.running, limiter.queued], [0, 0]);
});

Deno.test("ConcurrencyLimiter: an aborted waiter leaves the queue; failures free their slot", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 1, maxQueue: 1 });
  const g = gate();
  const first = limiter.run(() => g.wait);
  const controller = new AbortController();
  const waiting = limiter.run(() => Promise.resolve("never"), controller.signal);
  controller.abort(new Error("gave up"));
  await assert.rejects(waiting, /gave up/);
  assert.equal(limiter.queued, 0);
  const next = limiter.run(() => Promise.reject(new Error("task failed")));
  g.open();
  await first;
  await assert.rejects(next, /task failed/);
  assert.equal(limiter.running, 0);
  await assert.rejects(
    limiter.run(() => Promise.resolve(1), AbortSignal.abort(new Error("already"))),
    /already/,
  );
});

Deno.test("ConcurrencyLimiter: maxQueue 0 refuses at once; bad limits are RangeErrors", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 1, maxQueue: 0 });
  const g = gate();
  const first = limiter.run(() => g.wait);
  await assert.rejects(limiter.run(() => Promise.resolve()), QueueFullError);
  g.open();
  await first;
  assert.throws(
    () => new ConcurrencyLimiter({ maxConcurrent: 0 }),
    /maxConcurrent must be an integer >= 1, got 0/,
  );
  assert.throws(() => new ConcurrencyLimiter({ maxQueue: -1 }), /maxQueue must be an integer >= 0, got -1/);
});
