import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { FINDINGS } from "./classes.ts";
import { readEntries } from "./entries.ts";
import { JUPYTER_DISPLAY } from "../display.ts";
import { NoSamplesError, pickSamples, sampleGrid } from "./sample_grid.ts";

const ENTRIES = readEntries(join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz")).entries;
const PRESENT = new Set(readdirSync(join(NIH_SAMPLE, "images")));
const RGBA = ["00000100_000.png", "00001369_000.png", "00002578_000.png"];

/** Mean and spread of the grey pixels of one tile's thumbnail area. */
async function tileStats(png: Uint8Array, left: number, top: number, size: number) {
  const { data } = await sharp(png).extract({ left, top, width: size, height: size }).raw()
    .toBuffer({ resolveWithObject: true });
  const mean = data.reduce((a, b) => a + b, 0) / data.length;
  const sd = Math.sqrt(data.reduce((a, b) => a + (b - mean) ** 2, 0) / data.length);
  return { mean, sd };
}

Deno.test("sampleGrid picks real NIH images across findings and writes their labels under them", async () => {
  const grid = await sampleGrid(NIH_SAMPLE, ENTRIES, { count: 15, columns: 5, thumb: 96, seed: 3 });
  assert.equal(grid.samples.length, 15);
  assert.ok(grid.samples.every((s) => PRESENT.has(s.image) && !s.error), "only images that are there");
  const covered = new Set(grid.samples.flatMap((s) => s.labels));
  // 15 tiles, one per finding and No Finding on the first round: every label appears.
  assert.equal(covered.size, 15, [...covered].join(", "));
  const meta = await sharp(grid.png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ["png", 480, 3 * (96 + 45), 1]);
  for (let i = 0; i < 15; i++) {
    const s = await tileStats(grid.png, (i % 5) * 96, Math.floor(i / 5) * 141, 96);
    assert.ok(s.sd > 20, `tile ${i} shows an X-ray, not a flat tile (sd ${s.sd.toFixed(1)})`);
  }
  // The caption strip has white text on the dark background.
  const caption = await sharp(grid.png).extract({ left: 0, top: 96, width: 96, height: 45 }).raw().toBuffer();
  assert.ok(caption.some((v) => v > 200) && caption.some((v) => v < 50));
  const bundle = grid[JUPYTER_DISPLAY]();
  assert.deepEqual(new Uint8Array(Buffer.from(bundle["image/png"], "base64")), grid.png);
  assert.equal(bundle["text/plain"].split("\n").length, 15);
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(grid))), ["width", "height", "samples"]);
  // Same seed, same pick.
  const again = await sampleGrid(NIH_SAMPLE, ENTRIES, { count: 15, columns: 5, thumb: 96, seed: 3 });
  assert.deepEqual(again.samples, grid.samples);
});

Deno.test("sampleGrid shows RGBA PNGs grey, and a corrupt or missing image as a tile with the error", async () => {
  using dir = tempDir();
  mkdirSync(join(dir.path, "images"));
  for (const n of RGBA) copyFileSync(join(NIH_SAMPLE, "images", n), join(dir.path, "images", n));
  writeFileSync(join(dir.path, "images", "00000001_000.png"), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2]));
  const images = [...RGBA, "00000001_000.png", "00000002_000.png"];
  const grid = await sampleGrid(dir.path, ENTRIES, { images, columns: 5, thumb: 64 });
  assert.deepEqual(grid.samples.map((s) => s.image), images);
  assert.deepEqual(grid.samples.map((s) => Boolean(s.error)), [false, false, false, true, true]);
  assert.match(grid.samples[4]?.error ?? "", /missing|no such file/i);
  assert.deepEqual(grid.samples[0]?.labels, ["Atelectasis", "Effusion", "Infiltration"]);
  assert.deepEqual(grid.samples[3]?.labels, ["Cardiomegaly"]);
  assert.deepEqual(grid.samples[4]?.labels, ["No Finding"]);
  assert.equal((await sharp(grid.png).metadata()).channels, 1);
  for (let i = 0; i < 3; i++) assert.ok((await tileStats(grid.png, i * 64, 0, 64)).sd > 20);
  const placeholder = await sharp(grid.png).extract({ left: 4 * 64, top: 0, width: 64, height: 64 }).raw()
    .toBuffer();
  const counts = new Map<number, number>();
  for (const v of placeholder) counts.set(v, (counts.get(v) ?? 0) + 1);
  const [mostCommon = NaN] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] ?? [];
  assert.ok(Math.abs(mostCommon - 0x50) <= 2, `placeholder background ${mostCommon}`);
  assert.ok(placeholder.some((v) => v > 200), "the error is written on the placeholder");
});

Deno.test("pickSamples covers the findings asked for, and sampleGrid refuses when no image is there", async () => {
  const present = ENTRIES.filter((e) => PRESENT.has(e.image));
  const hernia = FINDINGS.indexOf("Hernia");
  const picked = pickSamples(present, { count: 3, findings: ["Hernia"] });
  assert.equal(picked.length, 3);
  assert.ok(picked.every((e) => e.labels[hernia] === 1), "the sample has at least 3 Hernia images");
  assert.equal(pickSamples(present, { count: 100 }).length, present.length);
  assert.throws(() => pickSamples(present, { count: 0 }), RangeError);
  using dir = tempDir();
  await assert.rejects(sampleGrid(dir.path, ENTRIES), NoSamplesError);
  await assert.rejects(sampleGrid(NIH_SAMPLE, ENTRIES, { thumb: 8 }), /thumb must be an integer 32..1024/);
});
