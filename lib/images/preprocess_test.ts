import assert from "node:assert/strict";
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { readEntries } from "../nih/entries.ts";
import { readBoundingBoxes } from "../nih/bbox.ts";
import { nihArchiveOf } from "../nih/archives.ts";
import { officialSplit, readSplitList, seedSplit } from "../nih/split.ts";
import { PARTITIONS } from "../nih/split_file.ts";
import { synthesize } from "../nih/synth.ts";
import { buildCache, NoImagesError } from "./build_cache.ts";
import { openCache } from "./cache.ts";
import { decodeImage } from "./decode.ts";
import { mergeShards } from "./merge.ts";
import { describeMissingImages, MissingLabelsError, preprocess } from "./preprocess.ts";
import { sampleSplit, trainJob } from "./_testing.ts";

Deno.test("the real sample: every image of the split in its partition, labels from the label file, pixels decoded", async () => {
  using dir = tempDir();
  const { split, entries, names } = sampleSplit();
  const summary = await preprocess(NIH_SAMPLE, dir.path, { split, entries, size: 64, concurrency: 3 });
  const labelOf = new Map(entries.entries.map((e) => [e.image, e.labels.join("")]));
  let total = 0;
  for (const p of PARTITIONS) {
    assert.equal(summary.partitions[p]!.failed, 0);
    using cache = openCache(dir.path, p);
    assert.deepEqual(cache.names, split.images[p]);
    assert.equal(cache.splitDigest, split.digest);
    cache.names.forEach((n, i) => {
      assert.equal([...cache.labels.subarray(i * 14, i * 14 + 14)].join(""), labelOf.get(n), n);
    });
    const last = cache.count - 1;
    const png = join(NIH_SAMPLE, "images", cache.names[last] ?? assert.fail());
    assert.deepEqual(cache.read(last), await decodeImage(png, 64));
    total += cache.count;
  }
  assert.equal(total, names.length);
  assert.equal(total, 39);
  assert.ok(split.images.test.length > 0 && split.images.val.length > 0);
});

Deno.test("N shards cover every image once and merge to the unsharded cache byte for byte", async () => {
  using dir = tempDir();
  const { split, entries } = sampleSplit();
  const options = { split, entries, size: 32, partitions: ["train", "test"] as const };
  await preprocess(NIH_SAMPLE, join(dir.path, "whole"), options);
  const shards = join(dir.path, "shards");
  for (let index = 0; index < 4; index++) {
    await preprocess(NIH_SAMPLE, shards, { ...options, shard: { index, count: 4 } });
  }
  for (const p of ["train", "test"] as const) {
    const seen = [0, 1, 2, 3].flatMap((i) => {
      using shard = openCache(shards, `${p}.shard-${i}-of-4`);
      return shard.names;
    });
    assert.deepEqual(seen, split.images[p]);
    assert.equal(mergeShards(shards, p).shards, 4);
    for (const ext of [".bin", ".json"]) {
      const [sharded, whole] = [shards, join(dir.path, "whole")].map((d) => readFileSync(join(d, p + ext)));
      assert.deepEqual(sharded, whole, p + ext);
    }
  }
  assert.throws(() => mergeShards(shards, "val"), /No shards of "val"/);
});

async function syntheticData(root: string) {
  await synthesize(join(root, "data"), { images: 12, size: 48, seed: 3 });
  const entries = readEntries(join(root, "data/Data_Entry_2017.csv"));
  const list = (f: string) => readSplitList(join(root, "data", f));
  const { split } = officialSplit(entries, list("train_val_list.txt"), list("test_list.txt"), {
    valFraction: 0.2,
  });
  return { entries, split };
}

Deno.test("a truncated PNG is failed, a missing one only missing; the run goes on", async () => {
  using dir = tempDir();
  const { split, entries } = await syntheticData(dir.path);
  const [cut, gone] = split.images.train;
  assert.ok(cut && gone, "two training images");
  const png = readFileSync(join(dir.path, "data/images", cut));
  writeFileSync(join(dir.path, "data/images", cut), png.subarray(0, png.length - 200));
  rmSync(join(dir.path, "data/images", gone));
  const errors: string[] = [];
  const summary = await preprocess(join(dir.path, "data"), join(dir.path, "cache"), {
    split,
    size: 16,
    onProgress: (e) => e.error && errors.push(`${e.name}: ${e.error}`),
  });
  assert.equal(summary.partitions.train!.failed, 1);
  assert.equal(summary.partitions.train!.missing, 1);
  assert.deepEqual(summary.partitions.train!.failures.map((f) => f.name), [cut]);
  assert.match(summary.partitions.train!.failures[0]?.reason ?? "", /truncated PNG/);
  assert.equal(summary.partitions.train!.images, split.images.train.length - 2);
  assert.deepEqual(errors.map((e) => e.split(":")[0]), [cut]);
  assert.deepEqual(summary.missing.names, [gone]);
  using cache = openCache(join(dir.path, "cache"), "train");
  assert.deepEqual(cache.failed.map((f) => f.name), [cut], "the index lists only the images that failed");
  assert.ok(!cache.names.includes(cut) && !cache.names.includes(gone));
  // Labels must exist for every image of the split.
  const fewer = { ...entries, entries: entries.entries.filter((e) => e.image !== gone) };
  await assert.rejects(
    preprocess(join(dir.path, "data"), join(dir.path, "c2"), { split, entries: fewer }),
    (e: Error) => e instanceof MissingLabelsError && e.message.includes(gone),
  );
});

Deno.test("an interrupted build resumes after its last recorded image and ends equal to a clean build", async () => {
  using dir = tempDir();
  const { split } = await syntheticData(dir.path);
  const names = split.images.train;
  const job = trainJob(names, 16);
  const images = join(dir.path, "data/images");
  const clean = join(dir.path, "clean"), out = join(dir.path, "out");
  await buildCache(images, clean, job);
  const stop = new Error("interrupted");
  await assert.rejects(
    buildCache(images, out, job, {
      onProgress: (e) => {
        if (e.done === 5) throw stop;
      },
    }),
    (e) => e === stop,
  );
  assert.deepEqual(readdirSync(out).sort(), ["train.bin.part", "train.progress"]);
  // A torn write: half an image more in the .bin, half a line more in the log.
  appendFileSync(join(out, "train.bin.part"), new Uint8Array(100));
  appendFileSync(join(out, "train.progress"), '{"ok":"000');
  const result = await buildCache(images, out, job);
  assert.equal(result.resumed, 5);
  assert.equal(result.images, names.length);
  assert.deepEqual(readdirSync(out).sort(), ["train.bin", "train.json"]);
  for (const f of ["train.bin", "train.json"]) {
    assert.deepEqual(readFileSync(join(out, f)), readFileSync(join(clean, f)), f);
  }
  // Another job (other size) in the same folder starts over instead of mixing.
  const again = await buildCache(images, out, { ...job, size: 8 });
  assert.equal(again.alreadyBuilt, false);
  assert.equal(again.resumed, 0);
});

const fullEntries = () => readEntries(join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz"));

Deno.test("the full 112,120-image split with the 39 sample PNGs present: 39 cached, the rest missing by archive", async () => {
  using dir = tempDir();
  const entries = fullEntries();
  const { split } = seedSplit(entries, readBoundingBoxes(join(NIH_SAMPLE, "BBox_List_2017.csv.gz")));
  const summary = await preprocess(NIH_SAMPLE, dir.path, { split, entries, size: 16 });
  const parts = PARTITIONS.map((p) => summary.partitions[p]!);
  assert.equal(parts.reduce((n, s) => n + s.images, 0), 39);
  assert.equal(parts.reduce((n, s) => n + s.failed, 0), 0);
  assert.deepEqual(
    parts.map((s) => s.missing),
    PARTITIONS.map((p) => split.images[p].length - summary.partitions[p]!.images),
  );
  assert.equal(summary.missing.count, 112_120 - 39);
  assert.equal(summary.missing.names.length, summary.missing.count);
  assert.equal(summary.missing.imagesDir, join(NIH_SAMPLE, "images"));
  assert.deepEqual(summary.missing.archives, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(
    describeMissingImages(summary.missing),
    `112,081 images of the split are not in "${join(NIH_SAMPLE, "images")}" and were skipped (archives ` +
      `images_001..012 would hold them); run data fetch --only 1-12 to get them, or data split --present ` +
      `${join(NIH_SAMPLE, "images")} to split only the images present`,
  );
  assert.ok(parts.every((s) => !s.alreadyBuilt));
  // Run again: reused as it is, the same images missing.
  const again = await preprocess(NIH_SAMPLE, dir.path, { split, entries, size: 16 });
  assert.ok(PARTITIONS.every((p) => again.partitions[p]!.alreadyBuilt));
  assert.equal(again.missing.count, summary.missing.count);
});

Deno.test("a cache is reused when its PNGs are deleted, rebuilt when more arrive; none at all is NoImagesError", async () => {
  using dir = tempDir();
  const entries = fullEntries();
  const { split } = sampleSplit();
  const names = split.images.train;
  const sixth = names[5] ?? assert.fail("six training images");
  const data = join(dir.path, "data"); // its images/ links to four of the sample PNGs
  mkdirSync(join(data, "images"), { recursive: true });
  for (const n of names.slice(0, 4)) symlinkSync(join(NIH_SAMPLE, "images", n), join(data, "images", n));
  const cache = join(dir.path, "cache");
  const options = { split, entries, size: 16, partitions: ["train"] as const };
  const first = await preprocess(data, cache, options);
  assert.deepEqual([first.partitions.train!.images, first.partitions.train!.missing], [4, names.length - 4]);
  const archives = [...new Set(names.slice(4).map((n) => nihArchiveOf(n)!))].sort((a, b) => a - b);
  assert.deepEqual(first.missing.archives, archives);
  // The PNGs deleted after building: the cache stays, nothing to decode.
  for (const n of names.slice(0, 4)) rmSync(join(data, "images", n));
  const kept = await preprocess(data, cache, options);
  assert.equal(kept.partitions.train!.alreadyBuilt, true);
  assert.equal(kept.partitions.train!.images, 4);
  assert.equal(kept.missing.count, names.length - 4);
  // One more image arrives: rebuilt with it (the other four are gone now, so the new cache has one).
  symlinkSync(join(NIH_SAMPLE, "images", sixth), join(data, "images", sixth));
  const grown = await preprocess(data, cache, options);
  assert.equal(grown.partitions.train!.alreadyBuilt, false);
  assert.equal(grown.partitions.train!.images, 1);
  // No image at all and no cache: an error naming the folder, and nothing written.
  rmSync(join(data, "images", sixth));
  await assert.rejects(
    preprocess(data, join(dir.path, "empty"), options),
    (e) =>
      e instanceof NoImagesError && e.missing === names.length &&
      e.message.includes(`none of its ${names.length} images is in "${join(data, "images")}"`) &&
      /archives images_\d{3}/.test(e.message),
  );
  assert.deepEqual(readdirSync(dir.path).sort(), ["cache", "data"]);
  // ... but a finished cache of the same job is still reused.
  assert.equal((await preprocess(data, cache, options)).partitions.train!.alreadyBuilt, true);
});

Deno.test("a cache written when missing images were listed as failed is reused with them as missing", async () => {
  using dir = tempDir();
  const { split } = await syntheticData(dir.path);
  const names = split.images.train;
  const images = join(dir.path, "data/images");
  const job = trainJob(names, 8);
  rmSync(join(images, names[1] ?? assert.fail()));
  await buildCache(images, join(dir.path, "c"), job);
  const indexPath = join(dir.path, "c/train.json");
  const index = JSON.parse(readFileSync(indexPath, "utf8"));
  index.failed = [{ name: names[1], reason: "Input file is missing: ..." }];
  writeFileSync(indexPath, JSON.stringify(index));
  const reused = await buildCache(images, join(dir.path, "c"), job);
  assert.equal(reused.alreadyBuilt, true);
  assert.deepEqual(reused.failed, []);
  assert.deepEqual(reused.missing, [names[1]]);
});
