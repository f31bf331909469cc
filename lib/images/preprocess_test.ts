import assert from "node:assert/strict";
import { appendFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { readEntries } from "../nih/entries.ts";
import { officialSplit, PARTITIONS, readSplitList } from "../nih/split.ts";
import { synthesize } from "../nih/synth.ts";
import { buildCache } from "./build_cache.ts";
import { openCache } from "./cache.ts";
import { decodeImage } from "./decode.ts";
import { mergeShards } from "./merge.ts";
import { MissingLabelsError, preprocess } from "./preprocess.ts";
import { sampleSplit } from "./_testing.ts";

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

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
    assert.ok(same(cache.read(last), await decodeImage(join(NIH_SAMPLE, "images", cache.names[last]), 64)));
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
      assert.ok(
        same(readFileSync(join(shards, p + ext)), readFileSync(join(dir.path, "whole", p + ext))),
        p + ext,
      );
    }
  }
  assert.throws(() => mergeShards(shards, "val"), /No shards of "val"/);
});

async function syntheticData(root: string) {
  await synthesize(join(root, "data"), { images: 12, size: 48, seed: 3 });
  const entries = readEntries(join(root, "data/Data_Entry_2017.csv"));
  const lists = ["train_val_list.txt", "test_list.txt"].map((f) => readSplitList(join(root, "data", f)));
  return { entries, split: officialSplit(entries, lists[0], lists[1], { valFraction: 0.2 }).split };
}

Deno.test("a truncated PNG and a missing one are counted as failed; the run goes on", async () => {
  using dir = tempDir();
  const { split, entries } = await syntheticData(dir.path);
  const [cut, gone] = split.images.train;
  const png = readFileSync(join(dir.path, "data/images", cut));
  writeFileSync(join(dir.path, "data/images", cut), png.subarray(0, png.length - 200));
  rmSync(join(dir.path, "data/images", gone));
  const errors: string[] = [];
  const summary = await preprocess(join(dir.path, "data"), join(dir.path, "cache"), {
    split,
    size: 16,
    onProgress: (e) => e.error && errors.push(`${e.name}: ${e.error}`),
  });
  assert.equal(summary.partitions.train!.failed, 2);
  assert.equal(summary.partitions.train!.images, split.images.train.length - 2);
  assert.equal(errors.length, 2);
  using cache = openCache(join(dir.path, "cache"), "train");
  assert.deepEqual(cache.failed.map((f) => f.name), [cut, gone]);
  assert.match(cache.failed[1].reason, /missing/);
  assert.ok(!cache.names.includes(cut));
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
  const job = {
    partition: "train" as const,
    size: 16,
    names,
    labels: names.map(() => "0".repeat(14)),
    splitDigest: "x",
  };
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
    assert.ok(same(readFileSync(join(out, f)), readFileSync(join(clean, f))), f);
  }
  // Another job (other size) in the same folder starts over instead of mixing.
  const again = await buildCache(images, out, { ...job, size: 8 });
  assert.equal(again.complete, false);
  assert.equal(again.resumed, 0);
});
