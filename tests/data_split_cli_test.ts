import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, runCxr, tempDir } from "./_fixtures.ts";
import { readSplit } from "../lib/nih/split.ts";
import { FINDINGS } from "../lib/nih/classes.ts";

const ENTRIES = join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz");
const BBOX = join(NIH_SAMPLE, "BBox_List_2017.csv.gz");

Deno.test("data split --method seed --json prints the counts and writes a valid split file", async () => {
  using dir = tempDir();
  const out = join(dir.path, "split.json");
  const r = await runCxr([
    "data",
    "split",
    "--entries",
    ENTRIES,
    "--bbox",
    BBOX,
    "--method",
    "seed",
    "--out",
    out,
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    method: "seed",
    seed: 0,
    patients: { train: 21563, val: 3081, test: 6161 },
    images: { train: 69217, val: 9600, test: 33303 },
    out,
  });
  const split = readSplit(out);
  assert.deepEqual(split.patients, { train: 21563, val: 3081, test: 6161 });
  assert.deepEqual(readdirSync(dir.path), ["split.json"], "no temporary file left behind");
});

Deno.test("data split --method official reads the lists beside the entries by default; blacklist warnings go to stderr", async () => {
  using dir = tempDir();
  const out = join(dir.path, "official.json");
  writeFileSync(join(dir.path, "bl.txt"), "# bad ones\n00000001_000.png\n00099999_000.png\n");
  const r = await runCxr([
    "data",
    "split",
    "--entries",
    ENTRIES,
    "--method",
    "official",
    "--val-fraction",
    "0.2",
    "--seed",
    "5",
    "--blacklist",
    join(dir.path, "bl.txt"),
    "--out",
    out,
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.method, "official");
  assert.equal(j.seed, 5);
  assert.equal(j.images.test, 25596);
  assert.equal(j.images.train + j.images.val, 86524 - 1);
  assert.match(r.stderr, /warning: 1 blacklisted names of "bl.txt" are not in the entries: 00099999_000.png/);
  const split = readSplit(out);
  assert.equal(split.valFraction, 0.2);
  assert.ok(split.inputs.blacklist && split.inputs.trainVal && split.inputs.test);
});

Deno.test("data split without --json prints a readable summary", async () => {
  using dir = tempDir();
  const out = join(dir.path, "s.json");
  const r = await runCxr([
    "data",
    "split",
    "--entries",
    ENTRIES,
    "--bbox",
    BBOX,
    "--method",
    "seed",
    "--seed",
    "1",
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^seed split \(seed 1\) written to /);
  assert.match(r.stdout, /train\s+21563 patients/);
});

Deno.test("data labels --json counts images, patients and labels; --split adds partitions", async () => {
  const r = await runCxr(["data", "labels", "--entries", ENTRIES, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j), ["images", "patients", "counts"]);
  assert.equal(j.images, 112120);
  assert.equal(j.patients, 30805);
  assert.deepEqual(Object.keys(j.counts), [...FINDINGS, "No Finding"]);
  assert.equal(j.counts["No Finding"], 60361);
  assert.equal(j.counts.Hernia, 227);

  using dir = tempDir();
  const out = join(dir.path, "split.json");
  const s = await runCxr([
    "data",
    "split",
    "--entries",
    ENTRIES,
    "--bbox",
    BBOX,
    "--method",
    "seed",
    "--out",
    out,
  ]);
  assert.equal(s.code, 0, s.stderr);
  const p = await runCxr(["data", "labels", "--entries", ENTRIES, "--split", out, "--json"]);
  assert.equal(p.code, 0, p.stderr);
  const pj = JSON.parse(p.stdout);
  assert.deepEqual(Object.keys(pj.partitions), ["train", "val", "test"]);
  assert.equal(pj.partitions.test.patients, 6161);
  assert.equal(pj.partitions.train.images + pj.partitions.val.images + pj.partitions.test.images, 112120);

  const t = await runCxr(["data", "labels", "--entries", ENTRIES, "--split", out]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^\s+all\s+train\s+val\s+test\n/);
  assert.match(t.stdout, /^patients\s+30805\s+21563\s+3081\s+6161$/m);
});

Deno.test("bad arguments exit 2", async () => {
  using dir = tempDir();
  const out = join(dir.path, "s.json");
  const base = ["data", "split", "--entries", ENTRIES, "--out", out];
  const cases: [string[], RegExp][] = [
    [["data", "split", "--method", "seed", "--out", out], /--entries is required/],
    [
      [...base, "--method", "random", "--bbox", BBOX],
      /--method must be one of: seed, official; got "random"/,
    ],
    [[...base, "--method", "seed"], /--bbox is required for --method seed/],
    [[...base, "--method", "seed", "--bbox", BBOX, "--seed", "x"], /--seed must be an integer/],
    [
      [...base, "--method", "seed", "--bbox", BBOX, "--val-fraction", "0.2"],
      /--val-fraction applies to --method official only/,
    ],
    [
      [...base, "--method", "official", "--val-fraction", "1.5"],
      /--val-fraction must be a number between 0 and 0.99/,
    ],
    [["data", "labels"], /--entries is required/],
  ];
  for (const [args, re] of cases) {
    const r = await runCxr(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  assert.deepEqual(readdirSync(dir.path), []);
});

Deno.test("bad files exit 1 with the file and line, no stack, and leave an existing split untouched", async () => {
  using dir = tempDir();
  const out = join(dir.path, "split.json");
  writeFileSync(out, "previous split");
  const bad = join(dir.path, "Data_Entry_2017.csv");
  writeFileSync(
    bad,
    readFileSync(join(NIH_SAMPLE, "Data_Entry_2017_excerpt.csv"), "utf8").replace(
      "Cardiomegaly|Emphysema",
      "Cardiomegaly|Flu",
    ),
  );
  const r = await runCxr([
    "data",
    "split",
    "--entries",
    bad,
    "--bbox",
    BBOX,
    "--method",
    "seed",
    "--out",
    out,
  ]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^error: NihFormatError: Cannot read "Data_Entry_2017.csv" at line 3, column 31: unknown label "Flu"/,
  );
  assert.ok(!r.stderr.includes("    at "), "no stack trace");
  assert.equal(readFileSync(out, "utf8"), "previous split");

  const full = readFileSync(ENTRIES);
  writeFileSync(join(dir.path, "cut.csv.gz"), full.subarray(0, 5000));
  const g = await runCxr(["data", "labels", "--entries", join(dir.path, "cut.csv.gz")]);
  assert.equal(g.code, 1);
  assert.match(g.stderr, /^error: GzipError: Cannot decompress "cut.csv.gz": the gzip stream is truncated/);

  writeFileSync(join(dir.path, "broken.json"), '{"format": "cxr-split/1",\n "method": }');
  const s = await runCxr(["data", "labels", "--entries", ENTRIES, "--split", join(dir.path, "broken.json")]);
  assert.equal(s.code, 1);
  assert.match(
    s.stderr,
    /^error: SplitFormatError: Cannot read "broken.json" at line 2, column \d+: not valid JSON/,
  );

  // The target is a folder: the write fails and no temporary file stays behind.
  mkdirSync(join(dir.path, "taken"));
  const w = await runCxr([
    "data",
    "split",
    "--entries",
    ENTRIES,
    "--bbox",
    BBOX,
    "--method",
    "seed",
    "--out",
    join(dir.path, "taken"),
  ]);
  assert.equal(w.code, 1);
  assert.deepEqual(readdirSync(dir.path).sort(), [
    "Data_Entry_2017.csv",
    "broken.json",
    "cut.csv.gz",
    "split.json",
    "taken",
  ]);
});
