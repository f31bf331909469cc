import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, runCxr, tempDir } from "./_fixtures.ts";
import { readSplit } from "../lib/nih/split_file.ts";
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

Deno.test("data split --present DIR: only the images present, patient-wise, reproducible, recorded in the file", async () => {
  using dir = tempDir();
  const split = (out: string, present: string, more: string[] = []) =>
    runCxr([
      "data",
      "split",
      "--entries",
      ENTRIES,
      "--bbox",
      BBOX,
      "--method",
      "seed",
      "--present",
      present,
      "--out",
      join(dir.path, out),
      ...more,
    ]);
  const r = await split("a.json", NIH_SAMPLE, ["--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  const j = JSON.parse(r.stdout);
  const a = readSplit(join(dir.path, "a.json"));
  assert.deepEqual(j.present, a.present);
  assert.equal(a.present!.dir, join(NIH_SAMPLE, "images"));
  assert.equal(a.present!.images, 39);
  assert.equal(a.present!.absent, 112_120 - 39);
  assert.equal(j.images.train + j.images.val + j.images.test, 39);
  assert.equal(a.method, "seed");
  // The full split it came from, and every present image in its full-split partition.
  const full = await runCxr([
    "data",
    "split",
    "--entries",
    ENTRIES,
    "--bbox",
    BBOX,
    "--method",
    "seed",
    "--out",
    join(dir.path, "full.json"),
  ]);
  assert.equal(full.code, 0, full.stderr);
  const f = readSplit(join(dir.path, "full.json"));
  assert.equal(a.present!.fullDigest, f.digest);
  for (const p of ["train", "val", "test"] as const) {
    assert.ok(a.images[p].length > 0);
    for (const n of a.images[p]) assert.ok(f.images[p].includes(n), `${n} in ${p}`);
  }
  // Same seed, same files: the same split; the images folder itself works as DIR.
  const b = await split("b.json", join(NIH_SAMPLE, "images"));
  assert.equal(b.code, 0, b.stderr);
  assert.equal(readSplit(join(dir.path, "b.json")).digest, a.digest);
  assert.match(b.stdout, /only the 39 images present in .*images; 112,081 of the full split left out/);

  // A folder with a subset plus a stray image name: a warning, and only the subset.
  const sub = join(dir.path, "sub");
  mkdirSync(join(sub, "images"), { recursive: true });
  const names = readdirSync(join(NIH_SAMPLE, "images")).filter((n) => n.endsWith(".png")).slice(0, 10);
  for (const n of names) symlinkSync(join(NIH_SAMPLE, "images", n), join(sub, "images", n));
  writeFileSync(join(sub, "images", "00099999_000.png"), "");
  const c = await split("c.json", sub, ["--json"]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stderr, /warning: 1 image files in ".*images" are not in the split .*00099999_000.png/);
  const cs = readSplit(join(dir.path, "c.json"));
  assert.deepEqual([...cs.images.train, ...cs.images.val, ...cs.images.test].sort(), names);
  assert.equal(cs.present!.notInSplit, 1);

  // Nothing present, or no such folder: exit 1 naming the folder, no file written.
  mkdirSync(join(dir.path, "empty"));
  const e = await split("e.json", join(dir.path, "empty"));
  assert.equal(e.code, 1);
  assert.match(e.stderr, /SplitError: None of the 112120 images of the split is in ".*empty"/);
  const n = await split("n.json", join(dir.path, "nowhere"));
  assert.equal(n.code, 1);
  assert.match(n.stderr, /Cannot look for images in ".*nowhere": no such folder/);
  assert.ok(!readdirSync(dir.path).includes("e.json") && !readdirSync(dir.path).includes("n.json"));
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
