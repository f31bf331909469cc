import assert from "node:assert/strict";
import { join } from "node:path";
import { NIH_SAMPLE } from "../../tests/_fixtures.ts";
import { readBoundingBoxes } from "../nih/mod.ts";
import { heatmapRegions, iobb, IOBB_THRESHOLDS, localizationAccuracy, localize } from "./localization.ts";
import { upsampleHeatmap } from "./heatmap.ts";

const SAMPLE_IMAGES = new Set(Array.from(Deno.readDirSync(join(NIH_SAMPLE, "images")), (e) => e.name));
const boxes = readBoundingBoxes(join(NIH_SAMPLE, "BBox_List_2017.csv.gz")).boxes.filter((b) =>
  SAMPLE_IMAGES.has(b.image)
);

Deno.test("iobb by hand: partial overlap, containment, disjoint, edge contact, empty box", () => {
  // B 4x4 at (2,2), G 4x4 at (4,4): overlap 2x2 = 4 of 16.
  assert.equal(iobb({ x: 2, y: 2, w: 4, h: 4 }, { x: 4, y: 4, w: 4, h: 4 }), 0.25);
  // G inside B: area(G)/area(B).
  assert.equal(iobb({ x: 0, y: 0, w: 10, h: 10 }, { x: 1, y: 1, w: 3, h: 2 }), 0.06);
  assert.equal(iobb({ x: 0, y: 0, w: 5, h: 5 }, { x: 5, y: 0, w: 5, h: 5 }), 0); // touching edges
  assert.equal(iobb({ x: 0, y: 0, w: 0, h: 5 }, { x: 0, y: 0, w: 5, h: 5 }), 0);
  // Not symmetric: IoBB divides by the detected box only.
  assert.equal(iobb({ x: 4, y: 4, w: 4, h: 4 }, { x: 0, y: 0, w: 6, h: 6 }), 0.25);
  assert.equal(iobb({ x: 0, y: 0, w: 6, h: 6 }, { x: 4, y: 4, w: 4, h: 4 }), 4 / 36);
});

Deno.test("heatmapRegions: 8-connected components, diagonal neighbours joined, fraction of the max", () => {
  const map = {
    width: 6,
    height: 4,
    data: Float32Array.from([
      [10, 0, 0, 0, 0, 0],
      [0, 10, 0, 0, 6, 6],
      [0, 0, 0, 0, 6, 0],
      [4, 0, 0, 0, 0, 0],
    ].flat()),
  };
  assert.deepEqual(heatmapRegions(map, 0.5), [{ x: 4, y: 1, w: 2, h: 2 }, { x: 0, y: 0, w: 2, h: 2 }]);
  assert.deepEqual(heatmapRegions(map, 0.9), [{ x: 0, y: 0, w: 2, h: 2 }]);
  assert.equal(heatmapRegions(map, 0.3).length, 3);
  assert.throws(() => heatmapRegions(map, 0), /fraction must be in \(0, 1\]/);
  const flat = { width: 2, height: 1, data: new Float32Array([3, 3]) };
  assert.deepEqual(heatmapRegions(flat, 0.5, { scale: "minmax" }), []);
  assert.deepEqual(heatmapRegions(flat, 0.5), [{ x: 0, y: 0, w: 2, h: 1 }]); // evidence everywhere
  assert.deepEqual(heatmapRegions({ ...flat, data: new Float32Array([-3, -1]) }, 0.5), []); // none anywhere
});

Deno.test("localisation on the 7 sample images with NIH boxes: a map peaked on the box hits, one elsewhere misses", () => {
  assert.equal(boxes.length, 7);
  const results = [];
  for (const [k, box] of boxes.entries()) {
    // A 16x16 map over the 1024x1024 image, hot in the cells inside the box (hit) or in the opposite corner (miss).
    const hit = k % 2 === 0;
    const data = new Float32Array(256);
    for (let cy = 0; cy < 16; cy++) {
      for (let cx = 0; cx < 16; cx++) {
        const x = (cx + 0.5) * 64, y = (cy + 0.5) * 64;
        const inside = x > box.x && x < box.x + box.w && y > box.y && y < box.y + box.h;
        const far = Math.abs(x - (1024 - box.x - box.w / 2)) < 64 &&
          Math.abs(y - (1024 - box.y - box.h / 2)) < 64;
        data[cy * 16 + cx] = hit ? (inside ? 1 : 0) : (far && !inside ? 1 : 0);
      }
    }
    const full = upsampleHeatmap({ data, width: 16, height: 16 }, 1024, 1024);
    const r = localize(full, box);
    assert.equal(r.image, box.image);
    if (hit) assert.ok(r.hits[4], `${box.image} ${box.finding}: IoBB ${r.bestIobb}`); // T = 0.5
    else assert.deepEqual(r.hits, IOBB_THRESHOLDS.map(() => false), `${box.image}: IoBB ${r.bestIobb}`);
    assert.equal(r.peakInside, hit, `${box.image}: the map's maximum ${hit ? "in" : "outside"} the box`);
    results.push(r);
  }
  const table = localizationAccuracy(results);
  const findings = Object.keys(table.perFinding).sort();
  assert.deepEqual(findings, ["Cardiomegaly", "Infiltration", "Nodule", "Pneumonia"]);
  assert.equal(table.perFinding.Cardiomegaly?.boxes, 3);
  assert.equal(table.perFinding.Cardiomegaly?.peakInside, 2 / 3); // boxes 0 and 2 of the three are "hit" ones
  for (const { accuracy } of Object.values(table.perFinding)) {
    accuracy.forEach((a, i) => i > 0 && assert.ok(a <= accuracy[i - 1]!, "accuracy falls as T grows"));
  }
});
