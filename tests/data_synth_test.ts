/**
 * `deno task cxr data synth` as a real subprocess, and the synthetic files against the real NIH ones.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { NIH_SAMPLE, runCxr, tempDir } from "./_fixtures.ts";
import { FINDINGS, NO_FINDING } from "../lib/nih/classes.ts";
import { parseEntries } from "../lib/nih/entries.ts";
import { parseBoundingBoxes } from "../lib/nih/bbox.ts";

const firstLine = (text: string) => text.slice(0, text.indexOf("\n") + 1);
const realText = (name: string) => gunzipSync(readFileSync(join(NIH_SAMPLE, name))).toString("utf8");

Deno.test("data synth --json writes the NIH layout and prints its summary", async () => {
  using dir = tempDir();
  const r = await runCxr([
    "data",
    "synth",
    "--out",
    dir.path,
    "--images",
    "40",
    "--seed",
    "4",
    "--size",
    "128",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.deepEqual(
    Object.keys(summary).slice(0, 5),
    ["out", "images", "patients", "counts", "seconds"],
  );
  assert.equal(summary.out, dir.path);
  assert.equal(summary.images, 40);
  assert.deepEqual(Object.keys(summary.counts), [...FINDINGS, NO_FINDING]);
  assert.equal(typeof summary.seconds, "number");
  assert.equal(readdirSync(join(dir.path, "images")).filter((n) => n.endsWith(".png")).length, 40);

  const csv = readFileSync(join(dir.path, "Data_Entry_2017.csv"), "utf8");
  assert.ok(!csv.includes("\r"), "LF line ends");
  const lines = csv.slice(0, -1).split("\n");
  assert.equal(lines.length, 41);
  assert.ok(lines.every((l) => l.split(",").length === 11), "11 fields on every line");
  const entries = parseEntries(csv).entries;
  assert.equal(new Set(entries.map((e) => e.patientId)).size, summary.patients);
  assert.equal(entries.filter((e) => e.labels.every((v) => v === 0)).length, summary.counts[NO_FINDING]);
  FINDINGS.forEach((f, k) => assert.equal(entries.filter((e) => e.labels[k]).length, summary.counts[f], f));

  const trainVal = readFileSync(join(dir.path, "train_val_list.txt"), "utf8");
  const test = readFileSync(join(dir.path, "test_list.txt"), "utf8");
  assert.ok(!trainVal.endsWith("\n") && !test.endsWith("\n"), "no newline after the last name");
  const patients = (t: string) => new Set(t.split("\n").map((n) => n.slice(0, 8)));
  const testPatients = patients(test);
  assert.ok([...patients(trainVal)].every((p) => !testPatients.has(p)), "split is patient-wise");
  assert.equal(trainVal.split("\n").length + test.split("\n").length, 40);
  assert.match(readFileSync(join(dir.path, "README.md"), "utf8"), /synthetic/i);
  assert.ok(existsSync(join(dir.path, "BBox_List_2017.csv")));
});

Deno.test("data synth: the headers are the real files' headers byte for byte", async () => {
  using dir = tempDir();
  const r = await runCxr(["data", "synth", "--out", dir.path, "--images", "200", "--size", "32"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /200 images of \d+ patients/);
  const entryCsv = readFileSync(join(dir.path, "Data_Entry_2017.csv"), "utf8");
  assert.equal(firstLine(entryCsv), firstLine(realText("Data_Entry_2017_v2020.csv.gz")));
  const boxCsv = readFileSync(join(dir.path, "BBox_List_2017.csv"), "utf8");
  assert.equal(firstLine(boxCsv), firstLine(realText("BBox_List_2017.csv.gz")));
  const boxes = parseBoundingBoxes(boxCsv).boxes;
  assert.ok(boxes.length > 0);
  assert.ok(boxCsv.includes(",Infiltrate,"), "Infiltration is spelled Infiltrate as in the real file");
  const rows = boxCsv.trimEnd().split("\n").slice(1);
  assert.ok(rows.every((l) => l.split(",").length === 6));
});

Deno.test("data synth: bad arguments exit 2 and say which", async () => {
  using dir = tempDir();
  for (
    const [args, message] of [
      [["--images", "3"], /--out is required/],
      [["--out", dir.path], /--images is required/],
      [["--out", dir.path, "--images", "0"], /--images must be an integer 1\.\.1000000/],
      [["--out", dir.path, "--images", "3", "--size", "big"], /--size must be an integer 16\.\.4096/],
      [["--out", dir.path, "--images", "3", "--seed=-1"], /--seed must be an integer 0\.\.4294967295/],
    ] as const
  ) {
    const r = await runCxr(["data", "synth", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  assert.equal(readdirSync(dir.path).length, 0, "nothing written");
});

Deno.test("data synth: a folder with real NIH files is refused with exit 1 and one line", async () => {
  using dir = tempDir();
  writeFileSync(join(dir.path, "train_val_list.txt"), "00000001_000.png");
  const r = await runCxr(["data", "synth", "--out", dir.path, "--images", "2", "--size", "32"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Refusing to write synthetic data into ".*": it holds train_val_list\.txt/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  assert.deepEqual(readdirSync(dir.path), ["train_val_list.txt"]);
});
