import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE } from "../../tests/_fixtures.ts";
import { readEntries } from "./entries.ts";
import {
  CatalogueSyntaxError,
  formatArchiveNames,
  formatArchiveSelection,
  NIH_ARCHIVE_FIRST_IMAGES,
  NIH_CATALOGUE,
  NIH_LAST_IMAGE,
  NIH_TOTAL_BYTES,
  nihArchiveOf,
  parseArchiveSelection,
  parseCatalogue,
} from "./archives.ts";

const NIH_ARCHIVES = NIH_CATALOGUE.archives;

Deno.test("the NIH catalogue: 12 archives, sizes adding up to the published total, distinct URLs and md5s", () => {
  assert.deepEqual(
    NIH_ARCHIVES.map((a) => a.name),
    Array.from({ length: 12 }, (_, i) => `images_${String(i + 1).padStart(3, "0")}.tar.gz`),
  );
  assert.equal(NIH_ARCHIVES.reduce((s, a) => s + a.bytes!, 0), NIH_TOTAL_BYTES);
  assert.deepEqual(NIH_ARCHIVES.map((a) => a.images), [4999, ...Array(10).fill(10000), 7121]);
  assert.equal(new Set(NIH_ARCHIVES.map((a) => a.url)).size, 12);
  assert.equal(new Set(NIH_ARCHIVES.map((a) => a.md5)).size, 12);
  for (const a of NIH_ARCHIVES) {
    assert.match(a.url, /^https:\/\/nihcc\.box\.com\/shared\/static\/[a-z0-9]{32}\.gz$/);
    assert.match(a.md5!, /^[0-9a-f]{32}$/);
  }
  assert.deepEqual(NIH_CATALOGUE.files.map((f) => f.name), [
    "Data_Entry_2017_v2020.csv",
    "train_val_list.txt",
    "test_list.txt",
  ]);
  // The round trip through JSON (the --catalogue format) keeps the real catalogue intact.
  assert.deepEqual(
    parseCatalogue(JSON.stringify(NIH_CATALOGUE), "nih.json"),
    JSON.parse(JSON.stringify(NIH_CATALOGUE)),
  );
});

Deno.test("parseCatalogue names the file, the place and what is wrong", () => {
  assert.throws(() => parseCatalogue('{"archives": [}', "c.json"), (e) => {
    assert.ok(e instanceof CatalogueSyntaxError && e instanceof SyntaxError);
    assert.equal(e.file, "c.json");
    assert.match(e.message, /^Cannot read catalogue "c\.json".*not valid JSON/);
    return true;
  });
  assert.throws(() => parseCatalogue("[]", "c.json"), /"archives" array/);
  const bad = (entry: Record<string, unknown>) =>
    JSON.stringify({ archives: [{ number: 1, name: "images_001.tar.gz", url: "http://h/x", ...entry }] });
  for (
    const [entry, message] of [
      [{ md5: "XYZ" }, /archives\[0\]\.md5 must be 32 lower-case hex digits/],
      [{ bytes: -1 }, /archives\[0\]\.bytes must be a non-negative integer/],
      [{ name: "../x" }, /archives\[0\]\.name must be a plain file name/],
      [{ url: "not a url" }, /archives\[0\]\.url must be a URL/],
    ] as const
  ) assert.throws(() => parseCatalogue(bad(entry), "c.json"), message);
  assert.throws(
    () => parseCatalogue(JSON.stringify({ archives: [], files: {} }), "c.json"),
    /files must be an array/,
  );
});

Deno.test("parseArchiveSelection accepts lists and ranges, rejects the rest with the valid numbers", () => {
  const all = NIH_ARCHIVES.map((a) => a.number);
  assert.deepEqual(parseArchiveSelection("12, 1-2", all), [1, 2, 12]);
  for (const bad of ["0", "13", "x", "", "1,,2", "3-1", "1.5"]) {
    assert.throws(() => parseArchiveSelection(bad, all), RangeError, bad);
  }
  assert.throws(() => parseArchiveSelection("2", [1, 3]), /valid archive numbers: 1, 3/);
});

Deno.test("archive ranges: re-derived from the real v2020 label file and the archives' image counts", () => {
  const names = readEntries(join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz")).entries.map((e) => e.image)
    .sort();
  assert.equal(names.length, 112_120);
  let start = 0;
  const firsts: string[] = [];
  for (const a of NIH_ARCHIVES) {
    firsts.push(names[start] ?? "");
    // The first and last name of each range, and one inside, map to the archive.
    for (const i of [start, start + Math.floor(a.images! / 2), start + a.images! - 1]) {
      const name = names[i] ?? assert.fail(`no image #${i}`);
      assert.equal(nihArchiveOf(name), a.number, name);
    }
    start += a.images!;
  }
  assert.deepEqual(firsts, NIH_ARCHIVE_FIRST_IMAGES);
  assert.equal(names.at(-1), NIH_LAST_IMAGE);
  assert.equal(nihArchiveOf("00000000_000.png"), undefined);
  // The 39 sample images come from every archive.
  const sample = readdirSync(join(NIH_SAMPLE, "images")).filter((n) => n.endsWith(".png"));
  assert.deepEqual(
    [...new Set(sample.map(nihArchiveOf))].sort((a, b) => a! - b!),
    NIH_ARCHIVES.map((a) => a.number),
  );
});

Deno.test("archive numbers formatted as an --only selection (parsed back) and as names", () => {
  const all = NIH_ARCHIVES.map((a) => a.number);
  for (const list of [[1], [2, 3], [1, 2, 3, 12], all, [5, 3, 3, 9, 10, 11]]) {
    const text = formatArchiveSelection(list);
    assert.deepEqual(parseArchiveSelection(text, all), [...new Set(list)].sort((a, b) => a - b), text);
  }
  assert.equal(formatArchiveSelection(all), "1-12");
  assert.equal(formatArchiveNames([1]), "images_001");
  assert.equal(formatArchiveNames([1, 2, 10, 11, 12]), "images_001..002, images_010..012");
});
