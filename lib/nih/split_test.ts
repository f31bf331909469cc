import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { readEntries } from "./entries.ts";
import { boxedPatients, readBoundingBoxes } from "./bbox.ts";
import { parseBlacklist } from "./blacklist.ts";
import { MersenneTwister } from "./mt19937.ts";
import { officialSplit, parseSplitList, readSplitList, seedSplit } from "./split.ts";
import {
  parseSplit,
  PARTITIONS,
  readSplit,
  type Split,
  splitDigest,
  SplitError,
  SplitFormatError,
  writeSplit,
} from "./split_file.ts";

const entries = readEntries(join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz"));
const boxes = readBoundingBoxes(join(NIH_SAMPLE, "BBox_List_2017.csv.gz"));
const trainVal = readSplitList(join(NIH_SAMPLE, "train_val_list.txt"));
const testList = readSplitList(join(NIH_SAMPLE, "test_list.txt"));

/** Checks what every split must satisfy, independently of how it was drawn. */
function assertWellFormed(split: Split): void {
  const owner = new Map<number, string>();
  const seen = new Set<string>();
  for (const p of PARTITIONS) {
    const patients = new Set<number>();
    for (const name of split.images[p]) {
      assert.ok(!seen.has(name), `${name} twice`);
      seen.add(name);
      const patient = Number(name.slice(0, 8));
      assert.ok((owner.get(patient) ?? p) === p, `patient ${patient} in ${owner.get(patient)} and ${p}`);
      owner.set(patient, p);
      patients.add(patient);
    }
    assert.equal(split.patients[p], patients.size);
    assert.deepEqual(split.images[p], [...split.images[p]].sort());
  }
  assert.equal(split.digest, splitDigest(split.images));
  assert.equal(parseSplit(JSON.stringify(split)).digest, split.digest);
}

Deno.test("seed split reproduces the seed project: first ten shuffled patients and 21,563 / 3,081 / 6,161", () => {
  const boxed = new Set(boxedPatients(boxes.boxes));
  assert.equal(boxed.size, 726);
  const rest = Array.from({ length: 30805 }, (_, i) => i + 1).filter((p) => !boxed.has(p));
  new MersenneTwister(0).shuffle(rest);
  assert.deepEqual(rest.slice(0, 10), [24303, 16035, 4967, 28624, 5378, 20335, 17069, 12271, 16975, 4469]);

  const { split, warnings } = seedSplit(entries, boxes);
  assert.deepEqual(warnings, []);
  assert.deepEqual(split.patients, { train: 21563, val: 3081, test: 6161 });
  // Image counts follow from the patients; python3 gives the same 69,217 / 9,600 / 33,303.
  assert.deepEqual(PARTITIONS.map((p) => split.images[p].length), [69217, 9600, 33303]);
  assertWellFormed(split);
  const train = new Set(rest.slice(0, 21563));
  assert.ok(split.images.train.every((n) => train.has(Number(n.slice(0, 8)))));
  const test = new Set(split.images.test.map((n) => Number(n.slice(0, 8))));
  for (const p of boxed) assert.ok(test.has(p), `boxed patient ${p} not in test`);
  assert.equal(split.format, "cxr-split/1");
  assert.deepEqual(split.inputs, {
    entries: { file: "Data_Entry_2017_v2020.csv.gz", sha256: entries.sha256 },
    bbox: { file: "BBox_List_2017.csv.gz", sha256: boxes.sha256 },
  });
  assert.equal(split.valFraction, undefined);
});

Deno.test("another seed gives another well-formed split; a blacklist removes images and reports unknown names", () => {
  const blacklist = {
    ...parseBlacklist("00000001_000.png\n00000001_001.png\n00099999_000.png\n"),
    file: "bl.txt",
  };
  const { split, warnings } = seedSplit(entries, boxes, { seed: 7, blacklist });
  assertWellFormed(split);
  assert.notEqual(split.digest, seedSplit(entries, boxes).split.digest);
  assert.equal(PARTITIONS.reduce((n, p) => n + split.images[p].length, 0), 112118);
  assert.equal(split.seed, 7);
  assert.ok(split.inputs.blacklist);
  assert.deepEqual(warnings.length, 1);
  assert.match(warnings[0] ?? "", /1 blacklisted names of "bl.txt" are not in the entries: 00099999_000.png/);
});

Deno.test("official split: 86,524 train_val + 25,596 test, val carved by patient, nobody crosses", () => {
  assert.equal(trainVal.images.length, 86524);
  assert.equal(testList.images.length, 25596);
  assert.equal(trainVal.sha256, "61fbe896321c1c1c8b75f3e4f3a08e4fef6486d95ef8a667c31d4d60dca6cb81");
  const { split, warnings } = officialSplit(entries, trainVal, testList);
  assert.deepEqual(warnings, []);
  assertWellFormed(split);
  assert.equal(split.images.test.length, 25596);
  assert.equal(split.images.train.length + split.images.val.length, 86524);
  const tvPatients = new Set(trainVal.images.map((n) => n.slice(0, 8))).size;
  assert.equal(split.patients.val, Math.floor(tvPatients * 0.1));
  assert.equal(split.patients.train + split.patients.val, tvPatients);
  assert.equal(split.valFraction, 0.1);

  const quarter = officialSplit(entries, trainVal, testList, { valFraction: 0.25, seed: 3 });
  assert.equal(quarter.split.patients.val, Math.floor(tvPatients * 0.25));
  assertWellFormed(quarter.split);
});

Deno.test("official split reports list names missing from the entries and entries in neither list", () => {
  const some = { ...entries, entries: entries.entries.filter((e) => e.patientId !== 5) };
  const tv = parseSplitList(trainVal.images.filter((n) => n !== "00000001_000.png").join("\n"), {
    file: "train_val_list.txt",
  });
  const { split, warnings } = officialSplit(some, tv, testList);
  assertWellFormed(split);
  assert.equal(warnings.length, 2);
  assert.match(
    warnings[0] ?? "",
    /^8 names of "train_val_list.txt" are not in "Data_Entry_2017_v2020.csv.gz": 00000005_000.png/,
  );
  assert.match(
    warnings[1] ?? "",
    /^1 images of "Data_Entry_2017_v2020.csv.gz" are in neither list, left out: 00000001_000.png$/,
  );
});

Deno.test("official lists that share a name or a patient are refused", () => {
  const test = parseSplitList("00000001_000.png\n00000002_000.png", { file: "test_list.txt" });
  assert.throws(() => officialSplit(entries, trainVal, test), SplitError);
  const crossing = parseSplitList("00000001_009.png", { file: "test_list.txt" });
  assert.throws(
    () => officialSplit(entries, trainVal, crossing),
    /1 patients have images in both "train_val_list.txt" and "test_list.txt": 1$/,
  );
  assert.throws(() => officialSplit(entries, trainVal, testList, { valFraction: 1 }), RangeError);
});

Deno.test("split files round-trip and are written atomically", () => {
  using dir = tempDir();
  const { split } = seedSplit(entries, boxes);
  const path = join(dir.path, "split.json");
  writeSplit(path, split);
  assert.deepEqual(readSplit(path), split);
  assert.deepEqual(readdirSync(dir.path), ["split.json"]);
  // A failed write (the target is a folder) leaves neither a temporary file nor a change behind.
  mkdirSync(join(dir.path, "taken"));
  assert.throws(() => writeSplit(join(dir.path, "taken"), split));
  assert.deepEqual(readdirSync(dir.path).sort(), ["split.json", "taken"]);
  assert.deepEqual(readdirSync(join(dir.path, "taken")), []);
});

Deno.test("a bad split file is a SplitFormatError naming the file, position and field", () => {
  const images = { train: ["00000001_000.png", "00000001_001.png"], val: ["00000002_000.png"], test: [] };
  const good = {
    format: "cxr-split/1",
    method: "seed",
    seed: 0,
    inputs: { entries: { file: "e.csv", sha256: "a".repeat(64) } },
    digest: splitDigest(images),
    patients: { train: 1, val: 1, test: 0 },
    images,
  };
  const bad = (doc: unknown, path: string, re: RegExp, text = JSON.stringify(doc, null, 1)) =>
    assert.throws(() => parseSplit(text, { file: "s.json" }), (e: SplitFormatError) => {
      assert.ok(e instanceof SplitFormatError && e instanceof SyntaxError, String(e));
      assert.equal(e.file, "s.json");
      assert.equal(e.path, path);
      assert.match(e.message, re);
      return true;
    });
  assert.equal(parseSplit(JSON.stringify(good)).method, "seed");
  bad(null, "", /Cannot read "s.json" at line 3, column 1: not valid JSON/, '{\n "a": 1,\n}');
  bad(
    { ...good, format: "other" },
    "format",
    /line 2, column 2: format: expected "cxr-split\/1", found "other"/,
  );
  bad({ ...good, method: "random" }, "method", /expected one of seed, official/);
  bad({ ...good, seed: 0.5 }, "seed", /expected an integer/);
  bad({ ...good, valFraction: 2 }, "valFraction", /\[0, 1\)/);
  bad({ ...good, inputs: { entries: { file: "e.csv" } } }, "inputs.entries", /sha256/);
  bad({ ...good, images: { train: [], val: [] } }, "images.test", /expected an array/);
  bad({ ...good, images: { ...images, val: ["x.png"] } }, "images.val[0]", /found "x.png"/);
  bad(
    { ...good, images: { ...images, test: ["00000002_000.png"] } },
    "images.test[0]",
    /"00000002_000.png" is in images.val and images.test; partitions must be disjoint/,
  );
  bad(
    { ...good, images: { ...images, val: ["00000001_002.png"] } },
    "images.val[0]",
    /patient 1 is in images.train and images.val/,
  );
  bad(
    { ...good, patients: { train: 2, val: 1, test: 0 } },
    "patients.train",
    /expected 1 \(the patients of images.train\), found 2/,
  );
  bad({ ...good, digest: "0".repeat(64) }, "digest", /does not match the images/);
  using dir = tempDir();
  writeFileSync(join(dir.path, "cut.json"), readFileSync(new URL(import.meta.url)).subarray(0, 0));
  assert.throws(
    () => readSplit(join(dir.path, "cut.json")),
    /Cannot read "cut.json" at line 1, column 1: not valid JSON/,
  );
});
