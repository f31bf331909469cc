import assert from "node:assert/strict";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { readEntries } from "./entries.ts";
import { readBoundingBoxes } from "./bbox.ts";
import { officialSplit, readSplitList, seedSplit } from "./split.ts";
import {
  parseSplit,
  type Partition,
  PARTITIONS,
  readSplit,
  type Split,
  SplitError,
  SplitFormatError,
  writeSplit,
} from "./split_file.ts";
import { findPresentImages, restrictToPresent } from "./split_present.ts";

const entries = readEntries(join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz"));
const boxes = readBoundingBoxes(join(NIH_SAMPLE, "BBox_List_2017.csv.gz"));
const SAMPLE = findPresentImages(NIH_SAMPLE);

function partitionOf(split: Split): Map<string, Partition> {
  return new Map(PARTITIONS.flatMap((p) => split.images[p].map((n) => [n, p] as const)));
}

/** The restricted split is the full split's images that are present, each in its full-split partition. */
function assertSubsetOf(restricted: Split, full: Split, present: readonly string[]): void {
  const fullOf = partitionOf(full);
  const expected = present.filter((n) => fullOf.has(n));
  assert.deepEqual([...partitionOf(restricted).keys()].sort(), expected);
  for (const [name, p] of partitionOf(restricted)) assert.equal(p, fullOf.get(name), name);
  // parseSplit checks the patient rule (no patient in two partitions), the patient counts and the digest.
  assert.equal(parseSplit(JSON.stringify(restricted)).digest, restricted.digest);
}

Deno.test("the 39 sample PNGs against the full v2020 label file: a patient-wise subset of the full seed split", () => {
  assert.equal(SAMPLE.dir, join(NIH_SAMPLE, "images"));
  assert.equal(SAMPLE.names.length, 39);
  const full = seedSplit(entries, boxes, { seed: 0 }).split;
  const { split, warnings } = restrictToPresent(full, SAMPLE);
  assertSubsetOf(split, full, SAMPLE.names);
  assert.deepEqual(split.present, {
    dir: SAMPLE.dir,
    images: 39,
    absent: 112_120 - 39,
    notInSplit: 0,
    fullDigest: full.digest,
  });
  assert.deepEqual(warnings, []);
  assert.ok(PARTITIONS.every((p) => split.images[p].length > 0), JSON.stringify(split.patients));
  assert.equal(split.method, "seed");
  assert.equal(split.seed, 0);
  assert.deepEqual(split.inputs, full.inputs);
  // Reproducible: the same seed and files give the same digest; another seed another split.
  assert.equal(restrictToPresent(seedSplit(entries, boxes).split, SAMPLE).split.digest, split.digest);
  const other = restrictToPresent(seedSplit(entries, boxes, { seed: 7 }).split, SAMPLE).split;
  assert.notEqual(other.digest, split.digest);
  // The file round-trips with its record.
  using dir = tempDir();
  writeSplit(join(dir.path, "split.json"), split);
  assert.deepEqual(readSplit(join(dir.path, "split.json")), split);
});

Deno.test("the official method restricted: test stays NIH's test list, val carved from the full train_val", () => {
  const [trainVal, test] = ["train_val_list.txt", "test_list.txt"].map((f) =>
    readSplitList(join(NIH_SAMPLE, f))
  );
  assert.ok(trainVal && test);
  const full = officialSplit(entries, trainVal, test, { seed: 3 }).split;
  const { split } = restrictToPresent(full, SAMPLE);
  assertSubsetOf(split, full, SAMPLE.names);
  const official = new Set(test.images);
  assert.deepEqual(split.images.test, SAMPLE.names.filter((n) => official.has(n)));
  assert.equal(split.images.test.length, 12);
  assert.equal(split.valFraction, 0.1);
});

Deno.test("a folder with a subset: other files ignored, unknown image names reported, empty partitions warned", () => {
  using dir = tempDir();
  const images = join(dir.path, "images");
  mkdirSync(images);
  const some = SAMPLE.names.slice(0, 6);
  for (const n of some) symlinkSync(join(SAMPLE.dir, n), join(images, n));
  writeFileSync(join(images, "00099999_000.png"), "not in the label file");
  writeFileSync(join(images, "README.txt"), "");
  mkdirSync(join(images, "00099998_000.png")); // a folder, not an image
  symlinkSync(join(dir.path, "gone.png"), join(images, "00099997_000.png")); // a dangling link
  const present = findPresentImages(dir.path);
  assert.deepEqual(present.names, [...some, "00099999_000.png"]);
  assert.deepEqual(findPresentImages(images), present, "the images folder itself works too");

  const full = seedSplit(entries, boxes).split;
  const { split, warnings } = restrictToPresent(full, present);
  assertSubsetOf(split, full, some);
  assert.equal(split.present!.notInSplit, 1);
  assert.match(warnings[0] ?? "", /1 image files in ".*images" are not in the split .*: 00099999_000.png$/);
  const empty = PARTITIONS.filter((p) => split.images[p].length === 0);
  assert.equal(warnings.length, 1 + empty.length);

  // Restricting again keeps the first full digest and adds up what was left out.
  const again = restrictToPresent(split, { dir: "elsewhere", names: some.slice(0, 2) }).split;
  assert.equal(again.present!.fullDigest, full.digest);
  assert.equal(again.present!.absent, 112_120 - 2);
  assertSubsetOf(again, full, some.slice(0, 2));
});

Deno.test("nothing present is a SplitError naming the folder; a bad present record is a SplitFormatError", () => {
  using dir = tempDir();
  const full = seedSplit(entries, boxes).split;
  assert.throws(
    () => restrictToPresent(full, findPresentImages(dir.path)),
    (e) =>
      e instanceof SplitError &&
      e.message.includes(`None of the 112120 images of the split is in "${dir.path}" (0 image files there)`),
  );
  assert.throws(() => findPresentImages(join(dir.path, "x")), Deno.errors.NotFound);

  const { split } = restrictToPresent(full, { dir: "d", names: SAMPLE.names.slice(0, 3) });
  const text = JSON.stringify(split, null, 1);
  assert.throws(
    () => parseSplit(text.replace('"images": 3', '"images": 4')),
    /present.images: expected 3 \(the images of the split\), found 4/,
  );
  assert.throws(
    () => parseSplit(text.replace('"absent": 112117', '"absent": -1')),
    (e) => e instanceof SplitFormatError && e.path === "present.absent" && /line \d+/.test(e.message),
  );
  assert.throws(
    () => parseSplit(text.replace(/"fullDigest": "\w+"/, '"fullDigest": "x"')),
    /present.fullDigest/,
  );
});
