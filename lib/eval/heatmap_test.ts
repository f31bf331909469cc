import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { NIH_SAMPLE } from "../../tests/_fixtures.ts";
import { readBoundingBoxes } from "../nih/mod.ts";
import { camForClass, readGreyImage, renderHeatmapPng, scaleHeatmap, upsampleHeatmap } from "./heatmap.ts";
import { turbo } from "./_colormap.ts";

Deno.test("camForClass picks one item's class out of an NHWC batch", () => {
  // 2 items, 2x2 maps, 3 classes; value = 100*item + 10*cell + class
  const data = new Float32Array(2 * 4 * 3);
  for (let i = 0; i < 2; i++) {
    for (let p = 0; p < 4; p++) for (let c = 0; c < 3; c++) data[(i * 4 + p) * 3 + c] = 100 * i + 10 * p + c;
  }
  const cams = { data, height: 2, width: 2, classes: 3 };
  const m = camForClass(cams, 1, 2);
  assert.deepEqual([m.width, m.height], [2, 2]);
  assert.deepEqual([...m.data], [102, 112, 122, 132]);
  assert.throws(() => camForClass(cams, 0, 3), /classIndex must be an integer 0..2, got 3/);
  assert.throws(() => camForClass({ ...cams, data: data.subarray(1) }, 0, 0), /do not fit maps of 2x2x3/);
});

Deno.test("upsampleHeatmap is bilinear with aligned pixel centres and keeps constants", () => {
  const map = { data: new Float32Array([0, 4, 8, 12]), width: 2, height: 2 };
  const up = upsampleHeatmap(map, 4, 4);
  // Row 0 samples y=-0.25 -> clamped 0: [0, 1, 3, 4]; row 1 samples y=0.25: +2
  assert.deepEqual([...up.data.subarray(0, 8)], [0, 1, 3, 4, 2, 3, 5, 6]);
  const flat = upsampleHeatmap({ data: new Float32Array(9).fill(2), width: 3, height: 3 }, 7, 5);
  assert.ok(flat.data.every((v) => Math.abs(v - 2) < 1e-6));
  assert.throws(() => upsampleHeatmap(map, 0, 4), /width must be a positive integer/);
  assert.throws(
    () => scaleHeatmap({ data: new Float32Array(3), width: 2, height: 2 }),
    /3 values, expected 2x2/,
  );
  const flat2 = { data: new Float32Array([5, 5]), width: 2, height: 1 };
  assert.deepEqual([...scaleHeatmap(flat2, { scale: "minmax" }).data], [0, 0]);
  assert.deepEqual([...scaleHeatmap(flat2).data], [1, 1]); // evidence everywhere, evenly
  assert.throws(
    () => scaleHeatmap(flat2, { scale: "z" as "max" }),
    /scale must be one of max, minmax, got "z"/,
  );
});

Deno.test("turbo runs from blue through green to red", () => {
  const [r0, g0, b0] = turbo(0.15), [r5, g5, b5] = turbo(0.5), [r1, g1, b1] = turbo(0.9);
  assert.ok(b0 > r0 && b0 > g0, `turbo(0.15) = ${[r0, g0, b0]}`);
  assert.ok(g5 > b5 && g5 > 150, `turbo(0.5) = ${[r5, g5, b5]}`);
  assert.ok(r1 > g1 && r1 > b1, `turbo(0.9) = ${[r1, g1, b1]}`);
});

Deno.test("renderHeatmapPng over a real NIH X-ray: RGB PNG of its size, hot where the map peaks, box outlined", async () => {
  const name = "00002578_000.png"; // an RGBA original, with a Nodule box
  const image = await readGreyImage(join(NIH_SAMPLE, "images", name));
  assert.deepEqual([image.width, image.height], [1024, 1024]);
  const { boxes } = readBoundingBoxes(join(NIH_SAMPLE, "BBox_List_2017.csv.gz"));
  const box = boxes.find((b) => b.image === name)!;
  assert.equal(box.finding, "Nodule");
  // 7x7 map, hottest in the top-left cell, coldest bottom-right.
  const map = {
    data: new Float32Array(49).map((_, i) => 12 - ((i % 7) + Math.floor(i / 7))),
    width: 7,
    height: 7,
  };
  const png = await renderHeatmapPng(image, map, { alpha: 0.5, boxes: [box], lineWidth: 3 });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [1024, 1024, 3]);
  const px = (x: number, y: number) => [...data.subarray((y * 1024 + x) * 3, (y * 1024 + x) * 3 + 3)];
  const [hr = 0, , hb = 0] = px(20, 20), [cr = 0, , cb = 0] = px(1000, 1000);
  assert.ok(hr - hb > cr - cb + 50, `hot corner ${px(20, 20)} vs cold corner ${px(1000, 1000)}`);
  const left = Math.round(box.x), top = Math.round(box.y);
  assert.deepEqual(px(left, top + 10), [0, 255, 0]);
  assert.deepEqual(px(left + 2, top + 10), [0, 255, 0]);
  assert.notDeepEqual(px(left + 10, top + 10), [0, 255, 0]);
  // alpha 0 gives back the X-ray itself in all three channels
  const plain = await sharp(await renderHeatmapPng(image, map, { alpha: 0 })).raw().toBuffer();
  for (const p of [0, 1000, 512 * 1024 + 512]) {
    assert.deepEqual([...plain.subarray(p * 3, p * 3 + 3)], [image.data[p], image.data[p], image.data[p]]);
  }
});

Deno.test("renderHeatmapPng checks its arguments", async () => {
  const image = { data: new Uint8Array(4), width: 2, height: 2 };
  const map = { data: new Float32Array(1), width: 1, height: 1 };
  await assert.rejects(renderHeatmapPng({ ...image, width: 3 }, map), /has 4 bytes, expected 3x2/);
  await assert.rejects(renderHeatmapPng(image, map, { alpha: 2 }), /alpha must be 0..1, got 2/);
  await assert.rejects(renderHeatmapPng(image, map, { boxes: [{ x: NaN, y: 0, w: 1, h: 1 }] }), /non-finite/);
});
