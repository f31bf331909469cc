import assert from "node:assert/strict";
import { Progress } from "./progress.ts";

Deno.test("Progress in tty mode redraws one line and ends with a newline", () => {
  const out: string[] = [];
  const p = new Progress({
    label: "dl",
    total: 2048,
    unit: "bytes",
    mode: "tty",
    write: (s) => out.push(s),
    intervalMs: 0,
  });
  p.update(1024);
  p.update(2048);
  p.finish("done");
  assert.ok(out.every((s) => s.startsWith("\r\x1b[2K")));
  assert.match(out[0], /\[#{15}-{15}\] dl 1\.0 KiB\/2\.0 KiB 50%/);
  assert.ok(out.at(-1)!.endsWith("\n"));
  assert.match(out.at(-1)!, /100%.*done/);
});

Deno.test("Progress throttles redraws but always draws the final state", () => {
  const out: string[] = [];
  const p = new Progress({
    label: "x",
    total: 1000,
    mode: "lines",
    write: (s) => out.push(s),
    intervalMs: 60_000,
  });
  for (let i = 0; i < 1000; i++) p.advance();
  p.finish();
  p.finish(); // idempotent
  assert.equal(out.length, 2); // first update, then the final line
  assert.match(out[1], /x 1000\/1000 100%/);
});

Deno.test("Progress without a total shows the running amount", () => {
  const out: string[] = [];
  const p = new Progress({ label: "scan", mode: "lines", write: (s) => out.push(s), intervalMs: 0 });
  p.advance(7);
  p.finish();
  assert.match(out.at(-1)!, /^scan 7 /);
});

Deno.test("Progress in none mode writes nothing", () => {
  const out: string[] = [];
  const p = new Progress({ label: "q", total: 1, mode: "none", write: (s) => out.push(s), intervalMs: 0 });
  p.advance();
  p.finish();
  assert.deepEqual(out, []);
});
