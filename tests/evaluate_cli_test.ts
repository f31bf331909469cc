import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runCxr, tempDir } from "./_fixtures.ts";
import { selectBackend } from "../lib/model/mod.ts";
import { tinyBundle, writeTestCache } from "../lib/eval/_testing.ts";

await selectBackend("cpu");

Deno.test("cxr evaluate --json: per-class auroc, ci, positives, negatives, mean; files; table without --json", async () => {
  using dir = tempDir();
  const model = await tinyBundle(join(dir.path, "bundle"), 32);
  writeTestCache(dir.path, "test", 24, 32);
  const out = join(dir.path, "metrics.json");
  const args = [
    "evaluate",
    "--model",
    model,
    "--cache",
    dir.path,
    "--partition",
    "test",
    "--engine",
    "tfjs",
    "--backend",
    "cpu",
  ];
  const r = await runCxr([
    ...args,
    "--bootstrap",
    "200",
    "--seed",
    "3",
    "--out",
    out,
    "--charts",
    join(dir.path, "charts"),
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.format, "cxr-eval/1");
  assert.equal(j.images, 24);
  assert.deepEqual(j.model, { version: "tiny-test", engine: "tfjs" });
  assert.equal(Object.keys(j.classes).length, 14);
  const mass = j.classes.Mass;
  assert.ok(mass.auroc >= 0 && mass.auroc <= 1);
  assert.ok(mass.ci[0] <= mass.auroc && mass.auroc <= mass.ci[1]);
  assert.equal(mass.positives + mass.negatives, 24);
  assert.deepEqual(j.classes.Hernia, { auroc: null, ci: null, positives: 0, negatives: 24 });
  assert.equal(j.mean.classes, 13);
  assert.deepEqual(j.bootstrap, { resamples: 200, confidence: 0.95, seed: 3 });
  assert.deepEqual(JSON.parse(readFileSync(out, "utf8")), j);
  assert.match(readFileSync(join(dir.path, "charts", "roc.svg"), "utf8"), /<svg[^>]*>[\s\S]*Mass \(/);
  assert.match(readFileSync(join(dir.path, "charts", "auroc.svg"), "utf8"), /CheXNet/);

  // Same seed, same numbers; the text table has one row per finding plus the mean.
  const t = await runCxr([...args, "--bootstrap", "200", "--seed", "3"]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^finding\s+AUROC\s+95% CI\s+pos\/neg\s+CheXNet\s+seed$/m);
  const massRow = t.stdout.split("\n").find((l) => l.startsWith("Mass "))!;
  assert.ok(massRow.includes(mass.auroc.toFixed(3)) && massRow.includes(mass.ci[0].toFixed(3)), massRow);
  assert.match(t.stdout, /^mean\s+\d\.\d{3}\s+\d\.\d{3}–\d\.\d{3}\s+13 classes/m);
});

Deno.test("cxr evaluate: usage errors exit 2, a missing partition exits 1 naming it", async () => {
  using dir = tempDir();
  const model = await tinyBundle(join(dir.path, "bundle"), 32);
  const bad = await runCxr(["evaluate", "--model", model, "--cache", dir.path, "--bootstrap", "x"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--bootstrap must be an integer/);
  const missing = await runCxr([
    "evaluate",
    "--model",
    model,
    "--cache",
    dir.path,
    "--partition",
    "val",
    "--engine",
    "tfjs",
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /val\.json is missing/);
});
