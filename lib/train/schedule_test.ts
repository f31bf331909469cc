import assert from "node:assert/strict";
import { EarlyStopping, ReduceLrOnPlateau } from "./schedule.ts";

Deno.test("ReduceLrOnPlateau: x0.1 after 3 flat epochs, floored at 1e-6, improvements reset the count", () => {
  const s = new ReduceLrOnPlateau(1e-3);
  const lrs = [1.0, 0.9, 0.95, 0.9, 0.9, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]
    .map((v) => s.step(v));
  const expected = [[1e-3, 4], [1e-4, 4], [1e-5, 3], [1e-6, 5]].flatMap(([lr, n]) => Array(n).fill(lr));
  assert.deepEqual(lrs.map((v) => Number(v.toPrecision(3))), expected);
  // Resuming from the saved state continues the count.
  const a = new ReduceLrOnPlateau(1e-3, {}, { lr: 1e-3, best: 0.5, wait: 2 });
  assert.ok(Math.abs(a.step(0.6) - 1e-4) < 1e-12);
  assert.throws(() => new ReduceLrOnPlateau(1e-3, { factor: 1 }), /factor must be in \(0, 1\)/);
});

Deno.test("EarlyStopping resumes from its state", () => {
  const stop = new EarlyStopping(3, { best: 0.4, wait: 2 });
  assert.equal(stop.step(0.41), true);
  assert.throws(() => new EarlyStopping(0), /patience must be a positive integer/);
});
