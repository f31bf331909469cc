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

Deno.test("cxr evaluate --record: the evaluation goes into the bundle's metadata and card, only when asked", async () => {
  using dir = tempDir();
  const model = await tinyBundle(join(dir.path, "bundle"), 32);
  writeTestCache(dir.path, "test", 24, 32);
  const args = ["evaluate", "--model", model, "--cache", dir.path, "--engine", "tfjs", "--backend", "cpu"];
  const files = () =>
    ["metadata.json", "MODEL_CARD.md", "weights.bin"].map((f) => readFileSync(join(model, f)));
  const before = files();

  const plain = await runCxr([...args, "--bootstrap", "50"]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stderr, /not recorded in the bundle \(--record writes it into its model card\)/);
  assert.deepEqual(files(), before, "without --record the bundle is only read");

  const r = await runCxr([...args, "--bootstrap", "50", "--record", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /recorded in .*metadata\.json and .*MODEL_CARD\.md/);
  const j = JSON.parse(r.stdout);
  const meta = JSON.parse(readFileSync(join(model, "metadata.json"), "utf8"));
  assert.deepEqual(
    { ...meta.evaluation, recordedAt: "" },
    {
      partition: "test",
      images: 24,
      recordedAt: "",
      splitDigest: "test",
      engine: "tfjs",
      bootstrap: { resamples: 50, confidence: 0.95, seed: 0 },
      classes: j.classes,
      mean: j.mean,
      reference: { ...j.references[0], perClass: j.references[0].perClass },
    },
  );
  assert.equal(j.references[0].name, "CheXNet");
  assert.deepEqual(readFileSync(join(model, "weights.bin")), before[2], "weights untouched");
  const card = readFileSync(join(model, "MODEL_CARD.md"), "utf8");
  const mass = j.classes.Mass;
  assert.ok(
    card.includes(
      `| Mass | ${mass.auroc.toFixed(3)} | ${mass.ci[0].toFixed(3)}–${
        mass.ci[1].toFixed(3)
      } | ${mass.positives} | ${mass.negatives} | 0.868 |`,
    ),
    card,
  );
  assert.match(card, /Partition `test`, 24 images, scored with tfjs/);

  const usage = await runCxr([
    "evaluate",
    "--scores",
    join(dir.path, "x.jsonl"),
    "--entries",
    "e.csv",
    "--record",
  ]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--record goes with --model\/--cache, not --scores/);
  // Refused before any scoring (sysfs refuses new files even to root, whom permission bits would not stop).
  const ro = await runCxr(["evaluate", "--model", "/sys", "--cache", dir.path, "--record"]);
  assert.equal(ro.code, 1);
  assert.match(
    ro.stderr,
    /BundleReadOnlyError: Bundle folder "\/sys" is read-only \(EACCES\): nothing was recorded/,
  );
  assert.doesNotMatch(ro.stderr, /engine:/);
});
