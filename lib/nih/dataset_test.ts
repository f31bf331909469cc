import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { sampleArchive, samplePngs } from "../../tests/_archive_server.ts";
import { archiveServer, catalogueOf } from "./_testing.ts";
import { DatasetNotFoundError, ensureDataset, listDataset, prepareSplit } from "./dataset.ts";
import { readEntries } from "./entries.ts";
import { JUPYTER_DISPLAY } from "../display.ts";
import { readSplit } from "./split_file.ts";

const ENTRIES = readEntries(join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz"));

Deno.test("prepareSplit on the real label file: the seed split and the official split, written and readable", () => {
  using dir = tempDir();
  const seed = prepareSplit(NIH_SAMPLE, {
    method: "seed",
    entries: ENTRIES,
    bboxFile: "BBox_List_2017.csv.gz",
    out: join(dir.path, "seed.json"),
  });
  assert.deepEqual(seed.split.patients, { train: 21563, val: 3081, test: 6161 });
  assert.equal(seed.images.train + seed.images.val + seed.images.test, 112120);
  assert.equal(readSplit(join(dir.path, "seed.json")).digest, seed.split.digest);
  const json = JSON.parse(JSON.stringify(seed));
  assert.deepEqual(Object.keys(json), ["file", "method", "seed", "digest", "images", "patients", "warnings"]);

  const official = prepareSplit(NIH_SAMPLE, {
    entriesFile: "Data_Entry_2017_v2020.csv.gz",
    valFraction: 0.2,
    seed: 3,
    out: join(dir.path, "official.json"),
  });
  assert.equal(official.images.test, 25596, "test_list.txt as it is");
  assert.equal(official.images.train + official.images.val, 86524);
  assert.equal(official.split.valFraction, 0.2);
  const bundle = official[JUPYTER_DISPLAY]();
  assert.match(bundle["text/html"], /<tr><th>test<\/th><td>25596<\/td><td>\d+<\/td><\/tr>/);
  assert.match(bundle["text/plain"], /^official split, seed 3, written to .*official\.json/);
});

Deno.test("ensureDataset uses real data in place, refuses an empty folder, never synthesises over real data", async () => {
  const there = await ensureDataset(NIH_SAMPLE);
  assert.equal(there.source, "existing");
  assert.equal(there.listing.images, 39);
  assert.deepEqual(there.listing.labelFiles, [
    "BBox_List_2017.csv.gz",
    "Data_Entry_2017_excerpt.csv",
    "Data_Entry_2017_v2020.csv.gz",
    "test_list.txt",
    "train_val_list.txt",
  ]);
  const markdown = there[JUPYTER_DISPLAY]()["text/markdown"];
  assert.match(markdown, /39 images already there .*\| images\/\*\.png \| 39 \(/s);
  using dir = tempDir();
  await assert.rejects(
    ensureDataset(dir.path),
    (e) => e instanceof DatasetNotFoundError && /Data_Entry/.test(e.message),
  );
  await assert.rejects(ensureDataset(NIH_SAMPLE, { synthImages: 5 }), /Refusing to write synthetic data/);
  await assert.rejects(ensureDataset(dir.path, { synthImages: -1 }), RangeError);
  assert.deepEqual(listDataset(join(dir.path, "absent")).labelFiles, []);
});

Deno.test({
  name: "ensureDataset with fetch downloads and extracts archives from a mirror, then lists them",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using dir = tempDir();
    const pngs = samplePngs().slice(0, 4);
    const archive = await sampleArchive(pngs);
    await using server = await archiveServer({ "images_001.tar.gz": archive });
    const catalogue = catalogueOf([archive]);
    const s = await ensureDataset(join(dir.path, "nih"), { fetch: { catalogue, baseUrl: server.url } });
    assert.equal(s.source, "fetched");
    assert.equal(s.fetch?.failed, 0);
    assert.deepEqual(readdirSync(join(dir.path, "nih", "images")).sort(), pngs.slice().sort());
    assert.deepEqual([s.listing.images, s.listing.archives], [4, ["images_001.tar.gz"]]);
    assert.match(s.headline(), /4 images fetched and extracted from 1 archives/);
  },
});
