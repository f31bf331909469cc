// The --shard logic the Indexed Jobs rely on, for real: N shards cover every image exactly once, over the full
// NIH label file (112,120 names) and over the 39 sample images through the real preprocess CLI with
// `--shard env/N` and JOB_COMPLETION_INDEX as a Job pod gets it; and the pod's blob round trip.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { NIH_SAMPLE, runCxr, tempDir } from "./_fixtures.ts";
import { readEntries } from "../lib/nih/entries.ts";
import { readSplitList } from "../lib/nih/split.ts";
import { type Partition, PARTITIONS, writeSplit } from "../lib/nih/split_file.ts";
import { parseCacheIndex } from "../lib/images/mod.ts";
import { shardRange } from "../lib/shard.ts";
import { sampleSplit } from "../lib/images/_testing.ts";
import { spawnAzurite } from "../lib/storage/azurite.ts";

const COUNTS = [1, 2, 3, 7];

/** The real v2020 label file cut to the 39 sample images (parsing all 112,120 rows costs each run seconds). */
function sampleEntries(dir: string): string {
  const keep = new Set(readdirSync(join(NIH_SAMPLE, "images")));
  const lines = gunzipSync(readFileSync(join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz"))).toString().split(
    "\n",
  );
  const file = join(dir, "Data_Entry_2017_v2020.csv");
  writeFileSync(file, [lines[0], ...lines.filter((l) => keep.has(l.split(",")[0] ?? ""))].join("\n") + "\n");
  return file;
}

function assertExactCover(all: readonly string[], slices: string[][], what: string): void {
  assert.equal(slices.reduce((n, s) => n + s.length, 0), all.length, `${what}: total`);
  assert.deepEqual(slices.flat(), [...all], `${what}: in order, each once`);
  const sizes = slices.map((s) => s.length);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${what}: balanced ${sizes}`);
}

Deno.test("shardRange over the real NIH label file and official lists: N in {1, 2, 3, 7} cover all 112,120 images exactly once", () => {
  const names = readEntries(join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz")).entries.map((e) => e.image);
  assert.equal(names.length, 112120);
  assert.equal(new Set(names).size, 112120);
  const lists = {
    train_val: readSplitList(join(NIH_SAMPLE, "train_val_list.txt")).images,
    test: readSplitList(join(NIH_SAMPLE, "test_list.txt")).images,
  };
  assert.equal(lists.train_val.length + lists.test.length, 112120);
  for (const n of COUNTS) {
    const slice = (all: readonly string[]) =>
      Array.from({ length: n }, (_, i) => all.slice(...shardRange(all.length, i, n)));
    assertExactCover(names, slice(names), `labels N=${n}`);
    for (const [k, l] of Object.entries(lists)) assertExactCover(l, slice(l), `${k} N=${n}`);
  }
});

Deno.test("preprocess --shard env/N through the CLI on the 39 sample images: N in {1, 2, 3, 7} cover each image exactly once", async () => {
  using dir = tempDir();
  const { split } = sampleSplit();
  const splitFile = join(dir.path, "split.json");
  writeSplit(splitFile, split);
  const entries = sampleEntries(dir.path);
  const runs = COUNTS.flatMap((n) => Array.from({ length: n }, (_, i) => ({ n, i })));
  const run = async ({ n, i }: { n: number; i: number }) => {
    const out = join(dir.path, `n${n}`);
    const r = await runCxr(
      ["preprocess", "--data", NIH_SAMPLE, "--split", splitFile, "--entries", entries, "--out", out]
        .concat("--shard", `env/${n}`, "--size", "8", "--json"),
      { env: { JOB_COMPLETION_INDEX: String(i) } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).shard, { index: i, count: n });
  };
  for (let k = 0; k < runs.length; k += 2) await Promise.all(runs.slice(k, k + 2).map(run));
  for (const n of COUNTS) {
    for (const p of PARTITIONS) {
      const slices = Array.from({ length: n }, (_, i) => {
        const file = join(dir.path, `n${n}`, `${p}.shard-${i}-of-${n}.json`);
        return parseCacheIndex(readFileSync(file, "utf8"), { file }).names;
      });
      assertExactCover(split.images[p], slices, `${p} N=${n}`);
    }
  }
  const total = PARTITIONS.reduce((s, p) => s + split.images[p].length, 0);
  assert.equal(total, 39);

  const bad = await runCxr([
    "preprocess",
    "--data",
    NIH_SAMPLE,
    "--split",
    splitFile,
    "--out",
    dir.path,
    "--shard",
    "env/3",
  ], {
    env: { JOB_COMPLETION_INDEX: "3" },
  });
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /--shard must be i\/N .* or env\/N: shard must be i\/N with N >= 1 and 0 <= i < N, got 3\/3/,
  );
});

Deno.test({
  name:
    "a preprocess Job pod's blob round trip (Azurite): only its shard's images come down, its cache files go up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using dir = tempDir();
    const azurite = await spawnAzurite(join(dir.path, "azurite"), { port: 0 });
    try {
      const cs = azurite.connectionString.reveal();
      const service = BlobServiceClient.fromConnectionString(cs);
      const images = service.getContainerClient("nih-images");
      await images.createIfNotExists();
      for (const n of readdirSync(join(NIH_SAMPLE, "images"))) {
        await images.getBlockBlobClient(`png/${n}`).uploadFile(join(NIH_SAMPLE, "images", n));
      }
      const { split } = sampleSplit();
      const splitFile = join(dir.path, "split.json");
      writeSplit(splitFile, split);
      const entries = sampleEntries(dir.path);
      for (const i of [0, 1]) {
        const data = join(dir.path, `pod${i}`);
        const r = await runCxr([
          ...[
            "preprocess",
            "--data",
            data,
            "--split",
            splitFile,
            "--entries",
            entries,
            "--out",
            join(data, "cache"),
          ],
          ...["--shard", "env/2", "--size", "8", "--from-blob", "png", "--to-blob", "cache/", "--json"],
        ], { env: { JOB_COMPLETION_INDEX: String(i), AZURE_STORAGE_CONNECTION_STRING: cs } });
        assert.equal(r.code, 0, r.stderr);
        const summary = JSON.parse(r.stdout);
        const mine = PARTITIONS.flatMap((p: Partition) => {
          const all = split.images[p];
          return all.slice(...shardRange(all.length, i, 2));
        });
        assert.deepEqual(summary.fetched, { downloaded: mine.length, skipped: 0 });
        assert.deepEqual(readdirSync(join(data, "images")).sort(), [...mine].sort());
        assert.equal(summary.uploaded.container, "models");
        assert.deepEqual(
          summary.uploaded.blobs,
          PARTITIONS.flatMap((p) => [`cache/${p}.shard-${i}-of-2.bin`, `cache/${p}.shard-${i}-of-2.json`]),
        );
        assert.ok(existsSync(join(data, "cache", `train.shard-${i}-of-2.bin`)));
      }
      const up: string[] = [];
      for await (const b of service.getContainerClient("models").listBlobsFlat({ prefix: "cache/" })) {
        up.push(b.name);
      }
      assert.equal(up.length, 12);
    } finally {
      await azurite.close();
    }
  },
});
