import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { readSplit, writeSplit } from "../lib/nih/split_file.ts";
import { synthesize } from "../lib/nih/synth.ts";
import { openCache, preprocess } from "../lib/images/mod.ts";
import { shardRange } from "../lib/shard.ts";
import { sampleSplit } from "../lib/images/_testing.ts";

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

Deno.test("preprocess --json on the real sample, killed mid-way and re-run, equals a clean build", async () => {
  using dir = tempDir();
  const { split, entries } = sampleSplit();
  writeSplit(join(dir.path, "split.json"), split);
  const out = join(dir.path, "cache");
  const args = ["preprocess", "--data", NIH_SAMPLE, "--split", join(dir.path, "split.json"), "--out", out];
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(REPO_ROOT, "lib/cli/main.ts"),
      ...args,
      "--partition",
      "train",
      "--workers",
      "1",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const log = join(out, "train.progress");
  let lines = 0;
  // Stop polling if the run finished first (the test then fails below rather than hanging).
  while (lines < 4 && !existsSync(join(out, "train.json"))) {
    await new Promise((r) => setTimeout(r, 2));
    lines = existsSync(log) ? readFileSync(log, "utf8").split("\n").length - 1 : 0;
  }
  child.kill("SIGKILL");
  await child.status;
  assert.ok(
    !existsSync(join(out, "train.bin")) && !existsSync(join(out, "train.json")),
    "final names too early",
  );
  assert.ok(existsSync(join(out, "train.bin.part")));

  const run = await runCxr([...args, "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout);
  assert.equal(summary.out, out);
  assert.deepEqual(Object.keys(summary.partitions), ["train", "val", "test"]);
  const train = summary.partitions.train;
  assert.ok(train.resumed >= 3 && train.resumed < split.images.train.length, `resumed ${train.resumed}`);
  assert.equal(train.images, split.images.train.length);
  assert.equal(train.failed, 0);
  assert.equal(typeof train.seconds, "number");
  const total = ["train", "val", "test"].reduce((n, p) => n + summary.partitions[p].images, 0);
  assert.equal(total, 39);
  assert.deepEqual(readdirSync(out).sort(), [
    "test.bin",
    "test.json",
    "train.bin",
    "train.json",
    "val.bin",
    "val.json",
  ]);

  const clean = join(dir.path, "clean");
  await preprocess(NIH_SAMPLE, clean, { split, entries, partitions: ["train"] });
  for (const f of ["train.bin", "train.json"]) {
    assert.ok(same(readFileSync(join(out, f)), readFileSync(join(clean, f))), f);
  }
});

Deno.test("preprocess --shard i/N then --merge, and a corrupt PNG failed: listed, exit 1, the rest cached", async () => {
  using dir = tempDir();
  const data = join(dir.path, "data");
  await synthesize(data, { images: 14, size: 64, seed: 9 });
  const split = join(dir.path, "split.json");
  const made = await runCxr([
    "data",
    "split",
    "--entries",
    join(data, "Data_Entry_2017.csv"),
    "--method",
    "official",
    "--val-fraction",
    "0.2",
    "--out",
    split,
  ]);
  assert.equal(made.code, 0, made.stderr);
  const train: string[] = readSplit(split).images.train;
  const trainName = train[2] ?? assert.fail(`fewer than 3 train images in ${split}`);
  const png = readFileSync(join(data, "images", trainName));
  writeFileSync(join(data, "images", trainName), png.subarray(0, 100));
  const common = ["preprocess", "--data", data, "--split", split, "--size", "32"];
  const whole = await runCxr([...common, "--out", join(dir.path, "whole"), "--json"]);
  assert.equal(whole.code, 1, whole.stderr);
  const wj = JSON.parse(whole.stdout);
  assert.equal(wj.partitions.train.failed, 1);
  assert.equal(wj.partitions.train.images, train.length - 1);
  assert.equal(wj.missing.count, 0);
  assert.match(
    whole.stderr,
    new RegExp(
      `error: 1 image in the images folder could not be decoded; the others are cached, these are listed ` +
        `under "failed" in the index in .*whole:\n  ${trainName} \\(train\\): truncated PNG`,
    ),
  );
  assert.ok(!whole.stderr.includes("warning:"), whole.stderr);
  // Run again: the cache is reused, and the failure still fails the run.
  const again = await runCxr([...common, "--out", join(dir.path, "whole")]);
  assert.equal(again.code, 1);
  assert.match(again.stdout, /^train: \d+ images cached, 1 failed \(built earlier, reused\)$/m);
  const sharded = join(dir.path, "sharded");
  for (const i of [0, 1, 2]) {
    const r = await runCxr([...common, "--out", sharded, "--shard", `${i}/3`, "--json"]);
    const [start, end] = shardRange(train.length, i, 3);
    const holdsIt = start <= 2 && 2 < end;
    assert.equal(r.code, holdsIt ? 1 : 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).shard, { index: i, count: 3 });
    if (holdsIt) assert.match(r.stderr, new RegExp(`${trainName} \\(train.shard-${i}-of-3\\)`));
  }
  const merged = await runCxr(["preprocess", "--merge", "--out", sharded, "--json"]);
  assert.equal(merged.code, 0, merged.stderr);
  assert.equal(JSON.parse(merged.stdout).partitions.train.shards, 3);
  for (const p of ["train", "val", "test"]) {
    for (const ext of [".bin", ".json"]) {
      const a = readFileSync(join(sharded, p + ext)), b = readFileSync(join(dir.path, "whole", p + ext));
      assert.ok(same(a, b), p + ext);
    }
  }
  using cache = openCache(sharded, "train");
  assert.deepEqual(cache.failed.map((f) => f.name), [trainName]);
  rmSync(join(sharded, "val.shard-1-of-3.json"));
  const broken = await runCxr(["preprocess", "--merge", "--out", sharded, "--partition", "val"]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /shard 1 of 3 is missing or incomplete/);
});

Deno.test("preprocess usage errors exit with code 2", async () => {
  const bad = await runCxr(["preprocess", "--data", "x", "--split", "y", "--out", "z", "--shard", "3/3"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--shard must be i\/N with 0 <= i < N/);
  const part = await runCxr([
    "preprocess",
    "--data",
    "x",
    "--split",
    "y",
    "--out",
    "z",
    "--partition",
    "dev",
  ]);
  assert.equal(part.code, 2);
  assert.match(part.stderr, /--partition must be a comma-separated list of train, val, test/);
  const merge = await runCxr(["preprocess", "--merge", "--out", "z", "--shard", "0/2"]);
  assert.equal(merge.code, 2);
});

Deno.test("preprocess over the full split with a few images present: one line for the missing ones, exit 0; a corrupt one exits 1", async () => {
  using dir = tempDir();
  const entries = join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz");
  const split = join(dir.path, "split.json");
  const made = await runCxr([
    "data",
    "split",
    "--entries",
    entries,
    "--bbox",
    join(NIH_SAMPLE, "BBox_List_2017.csv.gz"),
    "--method",
    "seed",
    "--out",
    split,
  ]);
  assert.equal(made.code, 0, made.stderr);
  const data = join(dir.path, "data");
  mkdirSync(join(data, "images"), { recursive: true });
  const sample = readdirSync(join(NIH_SAMPLE, "images")).filter((n) => n.endsWith(".png")).sort();
  for (const n of sample.slice(0, 6)) symlinkSync(join(NIH_SAMPLE, "images", n), join(data, "images", n));
  const images = join(data, "images");
  const common = ["preprocess", "--data", data, "--entries", entries, "--split", split, "--size", "16"];

  const r = await runCxr([...common, "--out", join(dir.path, "cache")]);
  assert.equal(r.code, 0, r.stderr);
  const warning = `warning: 112,114 images of the split are not in "${images}" and were skipped (archives ` +
    `images_001..012 would hold them); run data fetch --only 1-12 to get them, or data split --present ` +
    `${images} to split only the images present`;
  const lines = r.stderr.split("\n");
  assert.deepEqual(lines.filter((l) => l.startsWith("warning:") || l.startsWith("error:")), [warning]);
  assert.ok(lines.length < 40, `${lines.length} lines on stderr`);
  assert.match(r.stdout, /^train: \d images cached, 0 failed, [\d,]+ not present \(built in [\d.]+ s\)$/m);
  assert.match(r.stdout, /^cache 16x16 in /m);

  // A corrupt PNG among the present ones: failed, named, exit 1; the missing ones still one line.
  const bad = sample[10] ?? assert.fail("fewer than 11 sample images");
  writeFileSync(join(images, bad), readFileSync(join(NIH_SAMPLE, "images", bad)).subarray(0, 3000));
  const c = await runCxr([...common, "--out", join(dir.path, "cache"), "--json"]);
  assert.equal(c.code, 1, c.stderr);
  const j = JSON.parse(c.stdout);
  const parts = ["train", "val", "test"].map((p) => j.partitions[p]);
  assert.equal(parts.reduce((n, p) => n + p.images, 0), 6);
  assert.equal(parts.reduce((n, p) => n + p.failed, 0), 1);
  assert.equal(parts.reduce((n, p) => n + p.missing, 0), 112_113);
  assert.ok(parts.every((p) => p.alreadyBuilt === false || p.failed === 0));
  assert.deepEqual(j.missing, {
    count: 112_113,
    imagesDir: images,
    archives: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  });
  assert.equal(c.stderr.split("\n").filter((l) => l.startsWith("warning:")).length, 1);
  assert.match(c.stderr, /^warning: 112,113 images of the split are not in/m);
  assert.match(
    c.stderr,
    new RegExp(
      `^error: 1 image in the images folder could not be decoded.*\n  ${bad} \\((train|val|test)\\): truncated PNG`,
      "m",
    ),
  );
  assert.ok(
    !c.stderr.includes(sample[20] ?? assert.fail("fewer than 21 sample images")),
    "no line for a missing image",
  );
});
