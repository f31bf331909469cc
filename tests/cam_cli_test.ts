import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { NIH_SAMPLE, runCxr, tempDir } from "./_fixtures.ts";
import { FINDINGS, readBoundingBoxes } from "../lib/nih/mod.ts";
import { selectBackend } from "../lib/model/mod.ts";
import { tinyBundle } from "../lib/eval/_testing.ts";

await selectBackend("cpu");
const name = "00026911_000.png"; // an Infiltrate box
const image = join(NIH_SAMPLE, "images", name);
const bboxFile = join(NIH_SAMPLE, "BBox_List_2017.csv.gz");

Deno.test("cxr cam: top class by CAM, chosen class by Grad-CAM with the NIH box outlined, PNG at the X-ray's size", async () => {
  using dir = tempDir();
  const model = await tinyBundle(join(dir.path, "bundle"), 32);
  const out = join(dir.path, "top.png");
  const r = await runCxr([
    "cam",
    "--model",
    model,
    "--image",
    image,
    "--out",
    out,
    "--engine",
    "tfjs",
    "--backend",
    "cpu",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.method, "cam");
  assert.equal(j.engine, "tfjs");
  assert.equal(j.probability, Math.max(...Object.values(j.probabilities) as number[]));
  assert.deepEqual(Object.keys(j.probabilities), [...FINDINGS]);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ["png", 1024, 1024, 3]);

  const boxed = join(dir.path, "boxed.png");
  const g = await runCxr([
    "cam",
    "--model",
    model,
    "--image",
    image,
    "--out",
    boxed,
    "--class",
    "Infiltration",
    "--method",
    "gradcam",
    "--backend",
    "cpu",
    "--boxes",
    bboxFile,
  ]);
  assert.equal(g.code, 0, g.stderr);
  assert.match(g.stdout, /^Infiltration 0\.\d{4} \(gradcam, tfjs\) -> /);
  assert.match(g.stdout, /outlined 1 NIH box\(es\): Infiltration/);
  const box = readBoundingBoxes(bboxFile).boxes.find((b) => b.image === name)!;
  const { data } = await sharp(boxed).raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => [...data.subarray((y * 1024 + x) * 3, (y * 1024 + x) * 3 + 3)];
  assert.deepEqual(at(Math.round(box.x), Math.round(box.y + box.h / 2)), [0, 255, 0]);
});

Deno.test("cxr cam: an unknown class exits 2 listing the 14 names; a missing image exits 1", async () => {
  using dir = tempDir();
  const model = await tinyBundle(join(dir.path, "bundle"), 32);
  const r = await runCxr([
    "cam",
    "--model",
    model,
    "--image",
    image,
    "--out",
    join(dir.path, "x.png"),
    "--class",
    "Pneumonitis",
  ]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`--class must be one of: ${FINDINGS.join(", ")}; got "Pneumonitis"`));
  const m = await runCxr([
    "cam",
    "--model",
    model,
    "--image",
    join(dir.path, "none.png"),
    "--out",
    join(dir.path, "x.png"),
  ]);
  assert.equal(m.code, 1);
  assert.match(m.stderr, /none\.png/);
});
