/**
 * `deno task cxr score` as a real subprocess: a local model bundle on the real NIH sample PNGs in 3 shards
 * (every image exactly once, a corrupt PNG as an error line and exit 1), a remote scoring handler on a real
 * socket (lines equal to local scoring, heatmap files, refused key), and blob in/out through Azurite with
 * `--shard env/N` as a Kubernetes Indexed Job runs it.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { NIH_SAMPLE, runCxr, tempDir } from "./_fixtures.ts";
import { createDenseNet, openPredictor, saveBundle, selectBackend } from "../lib/model/mod.ts";
import { createScoringHandler, scoreLocal } from "../lib/serve/mod.ts";
import { spawnAzurite } from "../lib/storage/azurite.ts";

const IMAGES = join(NIH_SAMPLE, "images");
const PNGS = readdirSync(IMAGES).filter((n) => n.endsWith(".png")).sort();
const KEY = "score-cli-test-key-0123456789";
const ENV = { CXR_BACKEND: "cpu" };

type Line = {
  image: string;
  probabilities?: Record<string, number>;
  top?: { class: string; probability: number };
  error?: { code: string; message: string; status?: number };
  heatmapFile?: string;
  [k: string]: unknown;
};
const parseLines = (text: string): Line[] =>
  text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));

async function tinyBundle(dir: string): Promise<string> {
  await selectBackend("cpu");
  const bundle = join(dir, "bundle");
  const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 32 });
  await saveBundle(model, bundle, { modelVersion: "score-cli-1", architecture: { name: "densenet-tiny" } });
  model.dispose();
  return bundle;
}

Deno.test("score --model: 3 shards cover every NIH image once; a corrupt PNG is an error line and exit 1", async (t) => {
  using tmp = tempDir();
  const bundle = await tinyBundle(tmp.path);
  const corrupt = join(tmp.path, "corrupt.png");
  writeFileSync(
    corrupt,
    readFileSync(join(IMAGES, PNGS[0] ?? assert.fail(`no PNG in ${IMAGES}`))).subarray(0, 3000),
  );
  const common = ["score", "--model", bundle, "--engine", "tfjs", "--images", IMAGES, corrupt];

  await t.step("wrong calls exit 2 before any work", async () => {
    const both = await runCxr(["score", "--model", bundle, "--url", "http://127.0.0.1:9", corrupt], {
      env: ENV,
    });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /exactly one of --url URL or --model DIR/);
    const shard = await runCxr([...common, "--shard", "3/3"], { env: ENV });
    assert.equal(shard.code, 2);
    assert.match(shard.stderr, /--shard: shard must be i\/N with N >= 1 and 0 <= i < N, got 3\/3/);
  });

  const shards = await Promise.all(
    [0, 1, 2].map((i) =>
      runCxr([...common, "--shard", `${i}/3`, "--out", join(tmp.path, "parts", "part-{i}-of-{n}.jsonl")], {
        env: ENV,
      })
    ),
  );
  const parts = [0, 1, 2].map((i) => readFileSync(join(tmp.path, "parts", `part-${i}-of-3.jsonl`), "utf8"));

  await t.step("the shards together hold every image exactly once, in name order", () => {
    const names = parts.flatMap((p) => parseLines(p).map((l) => l.image));
    assert.deepEqual(names, [...PNGS, "corrupt.png"]);
    assert.deepEqual(parts.map((p) => parseLines(p).length), [13, 13, 14]);
    assert.deepEqual(
      readdirSync(join(tmp.path, "parts")).sort(),
      [0, 1, 2].map((i) => `part-${i}-of-3.jsonl`),
    );
  });

  await t.step("the corrupt PNG fails alone: its shard exits 1, the others 0", () => {
    assert.deepEqual(shards.map((s) => s.code), [0, 0, 1], shards.map((s) => s.stderr).join("\n"));
    const last = parseLines(parts[2] ?? "");
    const bad = last.at(-1)!;
    assert.equal(bad.image, "corrupt.png");
    assert.equal(bad.error?.code, "bad_image");
    assert.match(bad.error!.message, /Cannot decode the image/);
    const stderr = shards[2]?.stderr ?? "";
    assert.match(stderr, /Scored 13 of 14 images \(1 failed\)/);
    assert.match(stderr, /failed: corrupt\.png: Cannot decode/);
    for (const line of last.slice(0, -1)) {
      assert.equal(Object.keys(line.probabilities!).length, 14);
      assert.deepEqual(line.model, { name: "densenet-tiny", version: "score-cli-1" });
      const best = Math.max(...Object.values(line.probabilities!));
      assert.equal(line.top!.probability, best);
      assert.equal(line.probabilities![line.top!.class], best);
    }
  });

  await t.step(
    "one unsharded --json run gives one document whose results equal the shards' lines",
    async () => {
      const whole = await runCxr([...common, "--json", "--concurrency", "3"], { env: ENV });
      assert.equal(whole.code, 1);
      const doc = JSON.parse(whole.stdout);
      assert.equal(doc.images, 40);
      assert.equal(doc.scored, 39);
      assert.equal(doc.failed, 1);
      assert.deepEqual(doc.failures.map((f: { image: string }) => f.image), ["corrupt.png"]);
      assert.deepEqual(doc.results, parts.flatMap(parseLines));
    },
  );
});

Deno.test({
  name: "score --url: lines equal local scoring, heatmaps to files, the key from CXR_SCORING_KEY",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    using tmp = tempDir();
    const bundle = await tinyBundle(tmp.path);
    const predictor = await openPredictor(bundle, { engine: "tfjs" });
    const server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      createScoringHandler(predictor, { key: KEY, log: () => {} }),
    );
    const url = `http://127.0.0.1:${server.addr.port}`;
    const picked = [3, 7].map((i) => PNGS[i] ?? assert.fail(`fewer than ${i + 1} PNGs in ${IMAGES}`));
    const list = join(tmp.path, "list.txt");
    writeFileSync(list, `# two of the sample\n${picked.join("\n")}\n`);
    try {
      await t.step("with the key: the service's answers, heatmaps written as files", async () => {
        const maps = join(tmp.path, "maps");
        const r = await runCxr(
          [
            "score",
            "--url",
            url,
            "--images",
            IMAGES,
            "--list",
            list,
            "--heatmap-dir",
            maps,
            "--class",
            "Mass",
          ],
          { env: { ...ENV, CXR_SCORING_KEY: KEY } },
        );
        assert.equal(r.code, 0, r.stderr);
        const lines = parseLines(r.stdout);
        assert.deepEqual(lines.map((l) => l.image), picked);
        for (const line of lines) {
          const local = await scoreLocal(predictor, readFileSync(join(IMAGES, line.image)), {
            heatmap: true,
            className: "Mass",
          });
          const { heatmap, ...rest } = local;
          const file = join(maps, line.image.replace(/\.png$/, ".heatmap.png"));
          assert.deepEqual(line, { image: line.image, ...rest, heatmapFile: file });
          assert.deepEqual(new Uint8Array(readFileSync(file)), Uint8Array.fromBase64(heatmap!));
        }
      });

      await t.step(
        "a wrong key: every image is an unauthorized error line, exit 1, the key shown nowhere",
        async () => {
          const wrong = "wrong-key-abcdefghijklmnop";
          const r = await runCxr(["score", "--url", url, ...picked.map((p) => join(IMAGES, p))], {
            env: { ...ENV, CXR_SCORING_KEY: wrong },
          });
          assert.equal(r.code, 1);
          const lines = parseLines(r.stdout);
          assert.deepEqual(lines.map((l) => [l.image, l.error?.code, l.error?.status]), [
            [picked[0], "unauthorized", 401],
            [picked[1], "unauthorized", 401],
          ]);
          assert.ok(!(r.stdout + r.stderr).includes(wrong));
        },
      );

      await t.step("an unreachable service: error lines naming the URL, exit 1", async () => {
        await server.shutdown();
        const r = await runCxr(["score", "--url", url, ...picked.slice(0, 1).map((p) => join(IMAGES, p))], {
          env: ENV,
        });
        assert.equal(r.code, 1);
        const [line] = parseLines(r.stdout);
        assert.equal(line?.error?.code, "error");
        assert.match(
          line.error.message,
          new RegExp(`Cannot reach the scoring service at "${url}/score" after 4 tries`),
        );
      });
    } finally {
      await server.shutdown();
      await predictor.dispose();
    }
  },
});

Deno.test({
  name: "score --from-blob --shard env/2 --to-blob scores/: each Indexed Job pod uploads its own part",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    using tmp = tempDir();
    const bundle = await tinyBundle(tmp.path);
    const azurite = await spawnAzurite(join(tmp.path, "azurite"), { port: 0 });
    try {
      const cs = azurite.connectionString.reveal();
      const service = BlobServiceClient.fromConnectionString(cs);
      const images = service.getContainerClient("nih-images");
      await images.createIfNotExists();
      const some = PNGS.slice(0, 5);
      for (const n of some) await images.getBlockBlobClient(`images/${n}`).uploadFile(join(IMAGES, n));
      await images.getBlockBlobClient("images/readme.txt").upload("not an image", 12);
      const env = { ...ENV, AZURE_STORAGE_CONNECTION_STRING: cs };
      const args = [
        "score",
        "--model",
        bundle,
        "--from-blob",
        "images/",
        "--shard",
        "env/2",
        "--to-blob",
        "scores/",
      ];
      const runs = await Promise.all(
        [0, 1].map((i) => runCxr([...args, "--json"], { env: { ...env, JOB_COMPLETION_INDEX: String(i) } })),
      );
      const docs = runs.map((r) => {
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout);
      });
      assert.deepEqual(docs.map((d) => [d.images, d.shard, d.blob]), [
        [2, { index: 0, count: 2 }, { container: "models", name: "scores/shard-0-of-2.jsonl" }],
        [3, { index: 1, count: 2 }, { container: "models", name: "scores/shard-1-of-2.jsonl" }],
      ]);
      const models = service.getContainerClient("models");
      const lines: Line[] = [];
      for (const i of [0, 1]) {
        const body = await models.getBlobClient(`scores/shard-${i}-of-2.jsonl`).downloadToBuffer();
        const part = parseLines(body.toString("utf8"));
        assert.deepEqual(part, docs[i].results);
        lines.push(...part);
      }
      assert.deepEqual(lines.map((l) => l.image), some);
      assert.ok(lines.every((l) => Object.keys(l.probabilities!).length === 14));
      const none = await runCxr(["score", "--model", bundle, "--from-blob", "nih-images/"], { env });
      assert.equal(none.code, 1);
      assert.match(
        none.stderr,
        /NoImagesError: No images to score: no \.png, \.jpg or \.jpeg blobs under "nih-images\/"/,
      );
    } finally {
      await azurite.close();
    }
  },
});
