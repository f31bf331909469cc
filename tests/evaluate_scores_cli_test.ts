/**
 * `deno task cxr evaluate --scores ... --entries ...` as a real subprocess, on the real NIH label files
 * (the full v2020 file and the 2017 excerpt) and the official test list, with synthetic scores that follow
 * the labels: Indexed-Job shard parts in a folder, another model's CSV, a blob prefix in Azurite with a
 * missing part, and the usage and input errors.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { NIH_SAMPLE, runCxr, tempDir } from "./_fixtures.ts";
import { evaluateScores } from "../lib/eval/mod.ts";
import { FINDINGS, readEntries, readSplitList } from "../lib/nih/mod.ts";
import { mulberry32 } from "../lib/random.ts";
import { spawnAzurite } from "../lib/storage/azurite.ts";

const V2020 = join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz");
const EXCERPT = join(NIH_SAMPLE, "Data_Entry_2017_excerpt.csv");
const TEST_LIST = join(NIH_SAMPLE, "test_list.txt");
const PNGS = readdirSync(join(NIH_SAMPLE, "images")).filter((n) => n.endsWith(".png")).sort();
const LABELS = new Map(readEntries(V2020).entries.map((e) => [e.image, e.labels]));
const TEST = readSplitList(TEST_LIST).images;

/** Scores that follow the v2020 labels (AUROC well above 0.5), float32 as a model writes them. */
function scoresFor(names: readonly string[], seed = 11): Float64Array {
  const rnd = mulberry32(seed);
  const out = new Float64Array(names.length * 14);
  names.forEach((name, i) => {
    LABELS.get(name)!.forEach((label, k) => out[i * 14 + k] = Math.fround(label * 0.3 + rnd() * 0.7));
  });
  return out;
}

/** One `cxr score` line (the image named as in a run over the images container). */
function jsonLine(name: string, s: ArrayLike<number>, version = "aks-v3"): string {
  const probabilities = Object.fromEntries(FINDINGS.map((f, k) => [f, s[k]]));
  return JSON.stringify({ image: `images/${name}`, model: { name: "densenet121", version }, probabilities });
}

function shardTexts(names: readonly string[], scores: Float64Array, count: number): string[] {
  const per = Math.ceil(names.length / count);
  return Array.from({ length: count }, (_, s) =>
    names.slice(s * per, (s + 1) * per).map((n, j) => {
      const i = s * per + j;
      return jsonLine(n, scores.subarray(i * 14, i * 14 + 14)) + "\n";
    }).join(""));
}

Deno.test("evaluate --scores: Indexed-Job shards + v2020 labels + test_list equal evaluateScores; a CSV prints the table", async () => {
  using dir = tempDir();
  // 3,000 images of the official test list, as 4 shard parts; a 3,001st failed (error line only).
  const names = TEST.slice(0, 3000);
  const scores = scoresFor(names);
  const parts = join(dir.path, "scores");
  Deno.mkdirSync(parts);
  shardTexts(names, scores, 4).forEach((text, s) =>
    writeFileSync(join(parts, `shard-${s}-of-4.jsonl`), text)
  );
  Deno.writeTextFileSync(
    join(parts, "shard-3-of-4.jsonl"),
    `{"image": "images/${TEST[3000]}", "error": {"code": "bad_image", "message": "cannot decode"}}\n`,
    { append: true },
  );
  const out = join(dir.path, "metrics.json");
  const charts = join(dir.path, "charts");
  const args = ["evaluate", "--scores", parts, "--entries", V2020, "--list", TEST_LIST, "--bootstrap", "300"];
  const r = await runCxr([...args, "--seed", "4", "--out", out, "--charts", charts, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);

  const order = [...names.entries()].sort(([, a], [, b]) => (a < b ? -1 : 1));
  const sorted = new Float64Array(scores.length), labels = new Uint8Array(scores.length);
  order.forEach(([i, name], row) => {
    sorted.set(scores.subarray(i * 14, i * 14 + 14), row * 14);
    labels.set(LABELS.get(name)!, row * 14);
  });
  const expected = evaluateScores(sorted, labels, FINDINGS, { bootstrap: 300, seed: 4 }).json;
  assert.equal(j.format, "cxr-eval/1");
  assert.equal(j.images, 3000);
  assert.equal(j.partition, "test_list.txt");
  assert.deepEqual(j.classes, expected.classes);
  assert.deepEqual(j.mean, expected.mean);
  assert.deepEqual(j.bootstrap, { resamples: 300, confidence: 0.95, seed: 4 });
  assert.deepEqual(j.model, { version: "aks-v3", engine: "scores", source: parts });
  assert.ok(j.mean.auroc > 0.75 && j.classes.Hernia.positives > 0, JSON.stringify(j.mean));
  assert.equal(j.scores.entries.variant, "v2020");
  assert.equal(j.scores.list.images, 25596);
  assert.deepEqual([j.scores.files.length, j.scores.images, j.scores.errorLines], [4, 3000, 1]);
  assert.deepEqual(j.scores.failed, { count: 1, first: [TEST[3000]] });
  assert.equal(j.scores.missing.count, 25596 - 3000);
  assert.deepEqual(j.scores.missing.first.slice(0, 2), [TEST[3000], TEST[3001]]);
  assert.deepEqual(j.scores.missingShards, []);
  assert.deepEqual(JSON.parse(readFileSync(out, "utf8")), j);
  assert.match(readFileSync(join(charts, "auroc.svg"), "utf8"), /CheXNet/);
  assert.match(
    r.stderr,
    /scores: 4 files, 3000 images, 1 error lines \(model aks-v3\); labels: Data_Entry_2017_v2020\.csv\.gz \(v2020\); list: test_list\.txt; evaluated: 3000 images/,
  );
  assert.match(r.stderr, /warning: 1 images failed to score \(error lines, no score\): /);
  assert.match(
    r.stderr,
    /warning: 22596 of the 25596 images in test_list.txt have no score: \d+_\d+\.png, .* and 22,586 more/,
  );

  // The same scores as another model's CSV (prob_ columns, pandas index, reversed rows): same numbers, a table.
  const csv = join(dir.path, "other_model.csv");
  writeFileSync(
    csv,
    `,Image Index,${FINDINGS.map((f) => `prob_${f}`).join(",")},prob_No Finding\n` +
      names.map((n, i) => `${i},${n},${scores.subarray(i * 14, i * 14 + 14).join(",")},0.5\n`).reverse().join(
        "",
      ),
  );
  const t = await runCxr([
    "evaluate",
    "--scores",
    csv,
    "--entries",
    V2020,
    "--list",
    TEST_LIST,
    "--bootstrap",
    "300",
    "--seed",
    "4",
  ]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(
    t.stdout,
    /^model unknown \(scores\) on test_list\.txt: 3000 images, 300 bootstrap resamples \(seed 4\)$/m,
  );
  assert.match(t.stdout, /^finding\s+AUROC\s+95% CI\s+pos\/neg\s+CheXNet\s+seed$/m);
  const mass = expected.classes.Mass ?? assert.fail("no Mass row in the expected metrics");
  const massRow = t.stdout.split("\n").find((l) => l.startsWith("Mass "))!;
  assert.ok(massRow.includes(mass.auroc!.toFixed(3)) && massRow.includes(mass.ci![1].toFixed(3)), massRow);
  assert.match(t.stderr, /note: not findings, left out: "", "prob_No Finding"/);
});

Deno.test("evaluate --scores: the 2017 excerpt labels 26 rows; the 39 sample images are unlabeled; --strict", async () => {
  using dir = tempDir();
  const excerpt = readEntries(EXCERPT).entries.map((e) => e.image);
  const names = [...excerpt, ...PNGS];
  const scores = scoresFor(names, 3);
  const file = join(dir.path, "scores.jsonl");
  writeFileSync(file, names.map((n, i) => jsonLine(n, scores.subarray(i * 14, i * 14 + 14)) + "\n").join(""));
  const r = await runCxr(["evaluate", "--scores", file, "--entries", EXCERPT, "--bootstrap", "0", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.images, 26);
  assert.equal(j.partition, "all scored");
  assert.equal(j.scores.entries.variant, "2017");
  assert.deepEqual(j.scores.unlabeled, { count: 39, first: PNGS.slice(0, 10) });
  assert.equal(j.classes.Cardiomegaly.positives + j.classes.Cardiomegaly.negatives, 26);
  assert.equal(j.bootstrap.resamples, 0);
  assert.match(
    r.stderr,
    /warning: 39 scored images are not in Data_Entry_2017_excerpt\.csv and are left out: 00000100_000\.png/,
  );

  // With the official list: the 12 excerpt images in it; --strict turns the warnings into exit 1.
  const s = await runCxr([
    "evaluate",
    "--scores",
    file,
    "--entries",
    EXCERPT,
    "--list",
    TEST_LIST,
    "--bootstrap",
    "50",
    "--strict",
  ]);
  assert.equal(s.code, 1, s.stderr);
  assert.match(s.stdout, /^model aks-v3 \(scores\) on test_list\.txt: 12 images/m);
  assert.match(s.stderr, /warning: 25572 of the 25596 images in test_list\.txt have no score/);
  assert.match(s.stderr, /--strict: 2 warnings, exit 1/);
});

Deno.test("evaluate: two modes, usage errors exit 2; bad scores exit 1 naming file, line and column", async () => {
  using dir = tempDir();
  const usage: [string[], RegExp][] = [
    [
      ["--scores", "x.jsonl", "--entries", EXCERPT, "--model", "m"],
      /--model\/--cache and --scores\/--entries are two modes/,
    ],
    [["--bootstrap", "10"], /evaluate a model bundle with --model DIR --cache DIR, or scores made elsewhere/],
    [["--scores", "x.jsonl"], /--entries is required/],
    [["--entries", EXCERPT], /--scores is required with --entries/],
    [
      ["--scores", "x.jsonl", "--entries", EXCERPT, "--engine", "onnx"],
      /--engine goes with --model\/--cache, not --scores/,
    ],
    [["--model", "m", "--cache", "c", "--list", TEST_LIST], /--list goes with --scores/],
    [["--model", "m"], /--cache is required/],
  ];
  for (const [args, pattern] of usage) {
    const r = await runCxr(["evaluate", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
  }
  const header = `Image Index,${FINDINGS.join(",")}\n`;
  const bad = join(dir.path, "bad.csv");
  writeFileSync(bad, `${header}${PNGS[0]},${FINDINGS.map(() => "0.5").join(",")}\n${PNGS[1]},0.5\n`);
  const b = await runCxr(["evaluate", "--scores", bad, "--entries", EXCERPT]);
  assert.equal(b.code, 1);
  assert.match(
    b.stderr,
    /ScoresFileError: Cannot read ".*bad\.csv" at line 3, column 21: expected 15 fields as in the header, found 2/,
  );
  const missing = join(dir.path, "missing.csv");
  writeFileSync(missing, "Image Index,Atelectasis,prob_Cardiomegaly\n");
  const m = await runCxr(["evaluate", "--scores", missing, "--entries", EXCERPT]);
  assert.equal(m.code, 1);
  assert.match(m.stderr, /no column for Effusion, Infiltration, Mass, .*, Hernia; name each finding/);
  const a = join(dir.path, "a.jsonl"), b2 = join(dir.path, "b.jsonl");
  const png = PNGS[0] ?? assert.fail(`no PNG in ${NIH_SAMPLE}/images`);
  writeFileSync(a, jsonLine(png, new Array(14).fill(0.5)) + "\n");
  writeFileSync(b2, "\n" + jsonLine(png, new Array(14).fill(0.25)) + "\n");
  const d = await runCxr(["evaluate", "--scores", a, "--scores", b2, "--entries", EXCERPT]);
  assert.equal(d.code, 1);
  assert.match(
    d.stderr,
    /ScoresConflictError: "00000100_000.png" is scored twice with different scores: .*a\.jsonl:1 and .*b\.jsonl:2/,
  );
});

Deno.test({
  name: "evaluate --scores blob:models/scores/: shard parts from Azurite, a missing part reported by name",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    using dir = tempDir();
    const azurite = await spawnAzurite(join(dir.path, "azurite"), { port: 0 });
    try {
      const cs = azurite.connectionString.reveal();
      const models = BlobServiceClient.fromConnectionString(cs).getContainerClient("models");
      await models.createIfNotExists();
      const names = TEST.slice(0, 600);
      const texts = shardTexts(names, scoresFor(names), 3);
      for (const [s, text] of texts.entries()) {
        if (s !== 1) {
          await models.getBlockBlobClient(`scores/shard-${s}-of-3.jsonl`).upload(text, text.length);
        }
      }
      await models.getBlockBlobClient("scores/older/shard-0-of-9.jsonl").upload("{", 1); // not in the folder
      const env = { AZURE_STORAGE_CONNECTION_STRING: cs };
      const r = await runCxr(
        ["evaluate", "--scores", "blob:models/scores/", "--entries", V2020, "--bootstrap", "100", "--json"],
        { env },
      );
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout);
      assert.equal(j.images, 400);
      assert.deepEqual(j.scores.files, [
        "blob:models/scores/shard-0-of-3.jsonl",
        "blob:models/scores/shard-2-of-3.jsonl",
      ]);
      assert.deepEqual(j.scores.missingShards, ["blob:models/scores/shard-1-of-3.jsonl"]);
      assert.match(
        r.stderr,
        /warning: missing shard parts \(their images are not evaluated\): blob:models\/scores\/shard-1-of-3\.jsonl/,
      );
      // One blob by its full name; a prefix with nothing under it.
      const one = await runCxr(
        [
          "evaluate",
          "--scores",
          "blob:models/scores/shard-2-of-3.jsonl",
          "--entries",
          V2020,
          "--bootstrap",
          "0",
          "--json",
        ],
        { env },
      );
      assert.equal(one.code, 0, one.stderr);
      assert.equal(JSON.parse(one.stdout).images, 200);
      const none = await runCxr(["evaluate", "--scores", "blob:models/nothing", "--entries", V2020], { env });
      assert.equal(none.code, 1);
      assert.match(
        none.stderr,
        /No scores under blob:models\/nothing: no blob of that name, nor \*\.jsonl blobs in it/,
      );
    } finally {
      await azurite.close();
    }
  },
});
