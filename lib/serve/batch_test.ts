import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../tests/_fixtures.ts";
import { loadSettings } from "../config.ts";
import { connectStorage } from "../storage/mod.ts";
import { type BatchLine, blobSources, type ImageSource, scoreBatch, sortSources } from "./batch.ts";
import { ScoringServiceError } from "./score_format.ts";

const enc = new TextEncoder();
const source = (name: string): ImageSource => ({
  name,
  location: `/x/${name}`,
  read: () => Promise.resolve(enc.encode(name)),
});

Deno.test("scoreBatch: lines come out in input order whatever order the scorer finishes in", async () => {
  const names = Array.from({ length: 12 }, (_, i) => `img${String(i).padStart(2, "0")}.png`);
  const pending: (() => void)[] = [];
  const lines: BatchLine[] = [];
  const progress: string[] = [];
  const run = scoreBatch(names.map(source), (bytes, name) =>
    new Promise<object>((resolve) => {
      pending.push(() => resolve({ top: name, bytes: bytes.length }));
    }), {
    concurrency: 4,
    onLine: (l) => void lines.push(l),
    onProgress: (e) => progress.push(e.image),
  });
  // Release the scorer's calls newest first, so completion order is the reverse of the input order in each wave.
  while (progress.length < names.length) {
    await new Promise((r) => setTimeout(r, 1));
    while (pending.length) pending.pop()!();
  }
  const summary = await run;
  assert.deepEqual(lines.map((l) => l.image), names);
  assert.notDeepEqual(progress, names);
  assert.deepEqual(lines[3], { image: "img03.png", top: "img03.png", bytes: 9 });
  assert.deepEqual([summary.images, summary.scored, summary.failed], [12, 12, 0]);
});

Deno.test("scoreBatch: a failed read or score is its own error line, with the service's code and status", async () => {
  const broken = { ...source("gone.png"), read: () => Deno.readFile("/nonexistent/gone.png") };
  const lines: BatchLine[] = [];
  const summary = await scoreBatch([source("a.png"), broken, source("busy.png")], (_bytes, name) => {
    if (name === "busy.png") {
      return Promise.reject(new ScoringServiceError("queue full", 503, "busy", "http://h/score"));
    }
    return Promise.resolve({ ok: true });
  }, { onLine: (l) => void lines.push(l) });
  assert.deepEqual(lines[0], { image: "a.png", ok: true });
  assert.equal(lines[1]?.error?.code, "not_found");
  assert.match(lines[1]?.error?.message ?? "", /No such file|not found/i);
  assert.deepEqual(lines[2], {
    image: "busy.png",
    error: { code: "busy", message: "http://h/score answered 503 busy: queue full", status: 503 },
  });
  assert.deepEqual(summary.failures.map((f) => f.image), ["gone.png", "busy.png"]);
  await assert.rejects(scoreBatch([], () => Promise.resolve({}), { concurrency: 0 }), RangeError);
});

Deno.test("scoreBatch: heatmaps go to files, not into the lines", async () => {
  using dir = tempDir("cxr-serve-batch-");
  const lines: BatchLine[] = [];
  const scorer = () => Promise.resolve({ heatmap: "AQID", heatmapClass: "Mass" });
  await scoreBatch([source("00000001_000.png")], scorer, {
    heatmapDir: join(dir.path, "maps"),
    onLine: (l) => void lines.push(l),
  });
  const file = join(dir.path, "maps", "00000001_000.heatmap.png");
  assert.deepEqual(lines, [{ image: "00000001_000.png", heatmapClass: "Mass", heatmapFile: file }]);
  assert.deepEqual([...readFileSync(file)], [1, 2, 3]);
});

Deno.test("sortSources orders by name and drops the same location given twice", () => {
  const sorted = sortSources([source("b"), source("a"), source("b")]);
  assert.deepEqual(sorted.map((s) => s.name), ["a", "b"]);
});

Deno.test({
  name: "blobSources: lists image blobs under a folder prefix, or takes names; reads download and clean up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using tmp = tempDir("cxr-serve-batch-");
    const dir = tmp.path;
    const settings = loadSettings({
      env: { CXR_AZURITE_DIR: join(dir, "azurite"), CXR_AZURITE_PORT: "0" },
      envFile: false,
    });
    await using conn = await connectStorage(settings, { ensureContainers: true });
    const container = settings.storage.containers.images;
    for (const name of ["set/b.png", "set/a.jpg", "set/notes.txt", "other/c.png", "settings/d.png"]) {
      Deno.writeTextFileSync(join(dir, "f"), `bytes of ${name}`);
      await conn.store.uploadFile(join(dir, "f"), { container, name });
    }
    const tmpDir = join(dir, "tmp");
    Deno.mkdirSync(tmpDir);
    const listed = await blobSources(conn.store, container, { prefix: "set", tmpDir });
    assert.deepEqual(listed.map((s) => s.name), ["a.jpg", "b.png"]);
    assert.equal(listed[1]?.location, `${container}/set/b.png`);
    assert.equal(new TextDecoder().decode(await listed[1]?.read()), "bytes of set/b.png");
    assert.deepEqual([...Deno.readDirSync(tmpDir)], []);
    const named = await blobSources(conn.store, container, {
      prefix: "/other/",
      names: ["c.png", "d.png"],
      tmpDir,
    });
    assert.deepEqual(named.map((s) => [s.name, s.location]), [
      ["c.png", `${container}/other/c.png`],
      ["d.png", `${container}/other/d.png`],
    ]);
    assert.equal(new TextDecoder().decode(await named[0]?.read()), "bytes of other/c.png");
    await assert.rejects((named[1] ?? assert.fail()).read(), /other\/d\.png/);
    assert.ok(!existsSync(join(tmpDir, "1.png")));
    const whole = await blobSources(conn.store, container, { prefix: "", tmpDir });
    assert.deepEqual(whole.map((s) => s.name), ["other/c.png", "set/a.jpg", "set/b.png", "settings/d.png"]);
  },
});
