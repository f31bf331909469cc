import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { writeSplit } from "../lib/nih/split.ts";
import { synthesize } from "../lib/nih/synth.ts";
import { openCache, preprocess } from "../lib/images/mod.ts";
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

Deno.test("preprocess --shard i/N then --merge, and a corrupt PNG counted in failed", async () => {
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
  const trainName = JSON.parse(readFileSync(split, "utf8")).images.train[2];
  const png = readFileSync(join(data, "images", trainName));
  writeFileSync(join(data, "images", trainName), png.subarray(0, 100));
  const common = ["preprocess", "--data", data, "--split", split, "--size", "32"];
  const whole = await runCxr([...common, "--out", join(dir.path, "whole"), "--json"]);
  assert.equal(whole.code, 0, whole.stderr);
  assert.equal(JSON.parse(whole.stdout).partitions.train.failed, 1);
  assert.match(whole.stderr, new RegExp(`error: cannot decode ${trainName}`));
  const sharded = join(dir.path, "sharded");
  for (const i of [0, 1, 2]) {
    const r = await runCxr([...common, "--out", sharded, "--shard", `${i}/3`, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).shard, { index: i, count: 3 });
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
