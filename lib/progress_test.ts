import assert from "node:assert/strict";
import { Progress, type ProgressOptions } from "./progress.ts";

/** A Progress that draws every update as a line into `out` (unless `options` say otherwise). */
function recorded(options: ProgressOptions): { p: Progress; out: string[] } {
  const out: string[] = [];
  const p = new Progress({ mode: "lines", write: (s) => out.push(s), intervalMs: 0, ...options });
  return { p, out };
}

Deno.test("Progress in tty mode redraws one line and ends with a newline", () => {
  const { p, out } = recorded({ label: "dl", total: 2048, unit: "bytes", mode: "tty" });
  p.update(1024);
  p.update(2048);
  p.finish("done");
  assert.ok(out.every((s) => s.startsWith("\r\x1b[2K")));
  assert.match(out[0] ?? "", /\[#{15}-{15}\] dl 1\.0 KiB\/2\.0 KiB 50%/);
  assert.ok(out.at(-1)!.endsWith("\n"));
  assert.match(out.at(-1)!, /100%.*done/);
});

Deno.test("Progress throttles redraws but always draws the final state", () => {
  const { p, out } = recorded({ label: "x", total: 1000, intervalMs: 60_000 });
  for (let i = 0; i < 1000; i++) p.advance();
  p.finish();
  p.finish(); // idempotent
  assert.equal(out.length, 2); // first update, then the final line
  assert.match(out[1] ?? "", /x 1000\/1000 100%/);
});

Deno.test("Progress without a total shows the running amount", () => {
  const { p, out } = recorded({ label: "scan" });
  p.advance(7);
  p.finish();
  assert.match(out.at(-1)!, /^scan 7 /);
});

Deno.test("Progress in none mode writes nothing", () => {
  const { p, out } = recorded({ label: "q", total: 1, mode: "none" });
  p.advance();
  p.finish();
  assert.deepEqual(out, []);
});

/** Runs `fn` with `performance.now()` reading the clock `at()` returns. */
function withClock(at: () => number, fn: () => void): void {
  const original = performance.now;
  performance.now = at;
  try {
    fn();
  } finally {
    performance.now = original;
  }
}

Deno.test("Progress shows seconds per step, not 0/s, when a step takes more than a second", () => {
  let now = 0;
  withClock(() => now, () => {
    const { p, out } = recorded({ label: "epoch 1/3", total: 10, itemName: "step" });
    now = 6400;
    p.update(2); // 2 steps in 6.4 s
    assert.match(out.at(-1)!.trimEnd(), /^epoch 1\/3 2\/10 20% eta 26s 3\.2 s\/step 6s$/);
    assert.doesNotMatch(out.at(-1)!.trimEnd(), /0\/s/);
    now = 8000;
    p.update(10); // 10 steps in 8 s: 1.25 per second
    assert.match(out.at(-1)!.trimEnd(), / 1\/s 8s$/);
  });
});

Deno.test("Progress names the item by default and keeps amounts per second for bytes", () => {
  let now = 0;
  withClock(() => now, () => {
    const items = recorded({ label: "score", total: 3 });
    now = 45_000;
    items.p.advance();
    assert.match(items.out.at(-1)!.trimEnd(), / 45 s\/item /);
    const bytes = recorded({ label: "dl", unit: "bytes" });
    now = 49_000;
    bytes.p.update(2);
    assert.match(bytes.out.at(-1)!.trimEnd(), /^dl 2 B 0\.5 B\/s 4s$/);
  });
});
