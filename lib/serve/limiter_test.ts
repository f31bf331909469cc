import assert from "node:assert/strict";
import { BudgetFullError, ByteBudget, ConcurrencyLimiter, QueueFullError } from "./limiter.ts";

Deno.test("ConcurrencyLimiter: slots pass to waiters in arrival order", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 2, maxQueue: 3 });
  const order: string[] = [];
  const gates = [Promise.withResolvers<void>(), Promise.withResolvers<void>()] as const;
  const task = (name: string, g?: { promise: Promise<void> }) => async () => {
    order.push(`start ${name}`);
    if (g) await g.promise;
    return name;
  };
  const runs = [task("a", gates[0]), task("b", gates[1]), task("c"), task("d")].map((t) => limiter.run(t));
  assert.deepEqual([limiter.running, limiter.queued], [2, 2]);
  gates[1].resolve();
  await runs[1];
  gates[0].resolve();
  assert.deepEqual(await Promise.all(runs), ["a", "b", "c", "d"]);
  assert.deepEqual(order, ["start a", "start b", "start c", "start d"]);
  assert.deepEqual([limiter.running, limiter.queued], [0, 0]);
});

Deno.test("ConcurrencyLimiter: an aborted waiter leaves the queue; failures free their slot", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 1, maxQueue: 1 });
  const g = Promise.withResolvers<void>();
  const first = limiter.run(() => g.promise);
  const controller = new AbortController();
  const waiting = limiter.run(() => Promise.resolve("never"), controller.signal);
  controller.abort(new Error("gave up"));
  await assert.rejects(waiting, /gave up/);
  assert.equal(limiter.queued, 0);
  const next = limiter.run(() => Promise.reject(new Error("task failed")));
  g.resolve();
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
  const g = Promise.withResolvers<void>();
  const first = limiter.run(() => g.promise);
  await assert.rejects(limiter.run(() => Promise.resolve()), QueueFullError);
  g.resolve();
  await first;
  assert.throws(
    () => new ConcurrencyLimiter({ maxConcurrent: 0 }),
    /maxConcurrent must be an integer >= 1, got 0/,
  );
  assert.throws(() => new ConcurrencyLimiter({ maxQueue: -1 }), /maxQueue must be an integer >= 0, got -1/);
});

Deno.test("ConcurrencyLimiter.full: true exactly when run would refuse", async () => {
  const limiter = new ConcurrencyLimiter({ maxConcurrent: 1, maxQueue: 1 });
  const g = Promise.withResolvers<void>();
  assert.equal(limiter.full, false);
  const first = limiter.run(() => g.promise);
  assert.equal(limiter.full, false);
  const second = limiter.run(() => Promise.resolve());
  assert.equal(limiter.full, true);
  await assert.rejects(limiter.run(() => Promise.resolve()), QueueFullError);
  g.resolve();
  await Promise.all([first, second]);
  assert.equal(limiter.full, false);
});

Deno.test("ByteBudget: reservations up to the limit, refused past it, released once", () => {
  const budget = new ByteBudget(64 * 1048576);
  const held = [
    budget.reserve(20 * 1048576),
    budget.reserve(20 * 1048576),
    budget.reserve(20 * 1048576),
  ] as const;
  assert.equal(budget.used, 60 * 1048576);
  assert.throws(() => budget.reserve(19 * 1048576), (e) => {
    assert.ok(e instanceof BudgetFullError);
    assert.equal(e.requested, 19 * 1048576);
    assert.equal(
      e.message,
      "The service is busy: 60.0 MiB of request bodies are in flight and this one needs 19.0 MiB; the limit is 64.0 MiB",
    );
    return true;
  });
  assert.equal(budget.used, 60 * 1048576); // a refusal holds nothing
  budget.reserve(4 * 1048576).release();
  held[0].release();
  held[0].release();
  assert.equal(budget.used, 40 * 1048576);
  budget.reserve(24 * 1048576);
  assert.equal(budget.reserve(0).bytes, 0);
  assert.throws(() => new ByteBudget(0), /limit must be an integer >= 1, got 0/);
  assert.throws(() => budget.reserve(-1), /bytes must be an integer >= 0, got -1/);
});
