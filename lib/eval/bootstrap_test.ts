import assert from "node:assert/strict";
import { mulberry32 } from "../random.ts";
import { rocAuc } from "../auroc.ts";
import { bootstrapAuroc, weightedAuc } from "./bootstrap.ts";
import { rocCurve } from "./roc.ts";

function sample(n: number, seed: number): { scores: number[]; labels: number[] } {
  const rnd = mulberry32(seed);
  const scores = Array.from({ length: n }, () => Math.round(rnd() * 10) / 10); // many ties
  const labels = scores.map((s) => (rnd() < 0.2 + 0.6 * s ? 1 : 0));
  return { scores, labels };
}

Deno.test("weightedAuc with integer multiplicities equals rocAuc on the expanded sample", () => {
  const rnd = mulberry32(5);
  for (let trial = 0; trial < 20; trial++) {
    const { scores, labels } = sample(40, trial);
    const order = Uint32Array.from(scores.keys()).sort((a, b) => scores[a]! - scores[b]!);
    const weights = Float64Array.from(scores, () => Math.floor(rnd() * 3));
    const s: number[] = [], l: number[] = [];
    scores.forEach((v, i) => {
      for (let k = 0; k < weights[i]!; k++) {
        s.push(v);
        l.push(labels[i]!);
      }
    });
    const expected = rocAuc(s, l);
    const got = weightedAuc(order, scores, labels, weights);
    if (expected === null) assert.equal(got, null);
    else assert.ok(Math.abs(got! - expected) < 1e-12, `trial ${trial}: ${got} vs ${expected}`);
  }
});

Deno.test("bootstrapAuroc: seeded and reproducible, intervals around the estimate, undefined classes null", () => {
  const a = sample(300, 1), b = sample(300, 2);
  const scores: number[] = [], labels: number[] = [];
  for (let i = 0; i < 300; i++) scores.push(a.scores[i]!, b.scores[i]!, i / 300);
  for (let i = 0; i < 300; i++) labels.push(a.labels[i]!, b.labels[i]!, 0);
  const classes = ["a", "b", "none"];
  const r1 = bootstrapAuroc(scores, labels, classes, { resamples: 300, seed: 9 });
  const r2 = bootstrapAuroc(scores, labels, classes, { resamples: 300, seed: 9 });
  const r3 = bootstrapAuroc(scores, labels, classes, { resamples: 300, seed: 10 });
  assert.deepEqual(r1, r2);
  assert.notDeepEqual(r1.perClass.a, r3.perClass.a);
  assert.equal(r1.perClass.none, null);
  for (const [name, col] of [["a", a], ["b", b]] as const) {
    const auc = rocAuc(col.scores, col.labels)!;
    const [lo, hi] = r1.perClass[name]!;
    assert.ok(lo < auc && auc < hi && hi - lo < 0.25, `${name}: ${auc} in [${lo}, ${hi}]`);
  }
  const mean = (rocAuc(a.scores, a.labels)! + rocAuc(b.scores, b.labels)!) / 2;
  assert.ok(r1.mean![0] < mean && mean < r1.mean![1]);
  assert.throws(
    () => bootstrapAuroc(scores, labels, classes, { resamples: 0 }),
    /resamples must be a positive/,
  );
  assert.throws(
    () => bootstrapAuroc(scores, labels, ["a", "b", "c", "d", "e", "f", "g"]),
    /do not fit 7 classes/,
  );
});

Deno.test("rocCurve: the trapezoid area under its points equals the exact AUROC", () => {
  for (let trial = 0; trial < 10; trial++) {
    const { scores, labels } = sample(200, 100 + trial);
    const c = rocCurve(scores, labels)!;
    let area = 0;
    for (let k = 1; k < c.fpr.length; k++) {
      area += (c.fpr[k]! - c.fpr[k - 1]!) * (c.tpr[k]! + c.tpr[k - 1]!) / 2;
    }
    assert.ok(Math.abs(area - rocAuc(scores, labels)!) < 1e-12);
    assert.deepEqual([c.fpr.at(-1), c.tpr.at(-1)], [1, 1]);
  }
});
