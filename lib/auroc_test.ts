import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { perClassAuroc, rocAuc } from "./auroc.ts";
import { mulberry32 } from "./random.ts";

/** Brute force: the fraction of (positive, negative) pairs ordered right, ties one half. */
function pairwise(scores: number[], labels: number[]): number {
  let good = 0, pairs = 0;
  scores.forEach((sp, i) => {
    if (labels[i] !== 1) return;
    scores.forEach((sn, j) => {
      if (labels[j] !== 0) return;
      pairs++;
      good += sp > sn ? 1 : sp === sn ? 0.5 : 0;
    });
  });
  return good / pairs;
}

Deno.test("rocAuc on hand-computed cases, ties counted one half", () => {
  assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  assert.equal(rocAuc([1, 2, 3, 4], [1, 1, 0, 0]), 0);
  assert.equal(rocAuc([3, 3, 3, 3], [1, 0, 1, 0]), 0.5);
  // positives 0.5, 0.7; negatives 0.5, 0.2, 0.7: pairs (0.5>0.2)=1,(0.5=0.5)=.5,(0.5<0.7)=0,(0.7>0.5)=1,(0.7>0.2)=1,(0.7=0.7)=.5
  assert.equal(rocAuc([0.5, 0.7, 0.5, 0.2, 0.7], [1, 1, 0, 0, 0]), 4 / 6);
});

Deno.test("rocAuc is undefined (null) without positives or without negatives, and checks its input", () => {
  assert.equal(rocAuc([0.1, 0.9], [0, 0]), null);
  assert.equal(rocAuc([0.1, 0.9], [1, 1]), null);
  assert.equal(rocAuc([], []), null);
  assert.throws(() => rocAuc([0.1], [0, 1]), /1 scores but 2 labels/);
  assert.throws(() => rocAuc([NaN, 1], [0, 1]), /score 0 is not a finite number/);
  assert.throws(() => rocAuc([0, 1], [0, 2]), /label 1 must be 0 or 1/);
});

Deno.test("rocAuc equals the pairwise definition on random data with many ties", () => {
  const rnd = mulberry32(3);
  for (let trial = 0; trial < 30; trial++) {
    const n = 5 + Math.floor(rnd() * 60);
    const scores = Array.from({ length: n }, () => Math.floor(rnd() * 6) / 5);
    const labels = Array.from({ length: n }, () => (rnd() < 0.3 ? 1 : 0));
    const expected = labels.includes(1) && labels.includes(0) ? pairwise(scores, labels) : null;
    const got = rocAuc(scores, labels);
    if (expected === null) assert.equal(got, null);
    else assert.ok(Math.abs(got! - expected) < 1e-12, `trial ${trial}: ${got} vs ${expected}`);
  }
});

Deno.test("perClassAuroc: per-class values, null classes left out of the mean, layout checked", () => {
  // 4 examples x 3 classes; class b has no positives, class c no negatives.
  const scores = [0.9, 0.1, 0.5, 0.2, 0.3, 0.6, 0.7, 0.2, 0.9, 0.4, 0.4, 0.1];
  const labels = [1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1];
  const t = perClassAuroc(scores, labels, ["a", "b", "c"]);
  assert.deepEqual(t.perClass, { a: 1, b: null, c: null });
  assert.equal(t.mean, 1);
  assert.deepEqual(t.positives, { a: 2, b: 0, c: 4 });
  assert.equal(perClassAuroc([0.1, 0.2], [0, 0], ["a"]).mean, null);
  assert.throws(() => perClassAuroc([1, 2, 3], [0, 1, 0], ["a", "b"]), /do not fit 2 classes/);
});

const SYSTEM_PYTHON = "/usr/bin/python3";
const hasSklearn = existsSync(SYSTEM_PYTHON) &&
  new Deno.Command(SYSTEM_PYTHON, { args: ["-c", "import sklearn"], stderr: "null" }).outputSync().success;

// With Debian's python3-sklearn (apt-get install -y python3-sklearn) the reference is scikit-learn itself;
// without it, the pairwise definition above.
Deno.test(`rocAuc equals ${hasSklearn ? "scikit-learn's roc_auc_score" : "the pairwise AUC"} to 1e-9 on random data`, async () => {
  const rnd = mulberry32(11);
  const cases = Array.from({ length: 20 }, (_, t) => {
    const n = 50 + Math.floor(rnd() * 2000);
    // Half the cases with coarse scores (many ties), half continuous.
    const scores = Array.from({ length: n }, () => (t % 2 ? Math.round(rnd() * 20) / 20 : rnd()));
    const labels = scores.map((s) => (rnd() < 0.2 + 0.5 * s ? 1 : 0));
    return { scores, labels };
  });
  const reference = hasSklearn ? await sklearn(cases) : cases.map((c) => pairwise(c.scores, c.labels));
  cases.forEach((c, i) => {
    const got = rocAuc(c.scores, c.labels)!, want = reference[i] ?? NaN;
    assert.ok(Math.abs(got - want) < 1e-9, `case ${i}: ${got} vs ${want}`);
  });
});

async function sklearn(cases: { scores: number[]; labels: number[] }[]): Promise<number[]> {
  const script = "import json,sys\nfrom sklearn.metrics import roc_auc_score\n" +
    "print(json.dumps([roc_auc_score(c['labels'], c['scores']) for c in json.load(sys.stdin)]))";
  const child = new Deno.Command(SYSTEM_PYTHON, { args: ["-c", script], stdin: "piped", stdout: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(cases)));
  await writer.close();
  const out = await child.output();
  assert.ok(out.success, "python3 failed");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}
