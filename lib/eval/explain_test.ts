import assert from "node:assert/strict";
import { join } from "node:path";
import sharp from "sharp";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { loadBundle, openPredictor, selectBackend, tf, tfjsPredictor } from "../model/mod.ts";
import { JUPYTER_DISPLAY } from "../display.ts";
import { readBoundingBoxes } from "../nih/mod.ts";
import { explainImage, localizeImages } from "./explain.ts";
import { heatmapGallery } from "./gallery.ts";
import { tinyBundle } from "./_testing.ts";

await selectBackend("cpu");
const image = join(NIH_SAMPLE, "images", "00001369_000.png"); // RGBA original, Cardiomegaly box

Deno.test("explainImage: CAM and Grad-CAM overlays of a real X-ray at its own size, top or chosen class", async () => {
  using dir = tempDir();
  const bundle = await tinyBundle(join(dir.path, "bundle"), 32);
  const predictor = await openPredictor(bundle, { engine: "tfjs" });
  const top = await explainImage(predictor, image);
  assert.equal(top.probability, Math.max(...Object.values(top.probabilities)));
  assert.deepEqual([top.map.width, top.map.height], [4, 4]);
  const meta = await sharp(top.png).metadata();
  assert.deepEqual([meta.width, meta.height, meta.channels], [1024, 1024, 3]);
  const shown = top[JUPYTER_DISPLAY]();
  assert.match(shown["text/plain"], /^00001369_000\.png: \w+ 0\.\d{3} \(cam\)$/);
  assert.ok(shown["image/png"].startsWith("iVBORw0KGgo"));

  const chosen = await explainImage(predictor, image, { className: "Hernia" });
  assert.equal(chosen.className, "Hernia");
  await assert.rejects(
    explainImage(predictor, image, { className: "Hernias" }),
    /valid classes: Atelectasis, Cardiomegaly/,
  );

  const { model, metadata } = await loadBundle(bundle);
  const owner = tfjsPredictor(model, metadata);
  const before = tf.memory().numTensors;
  const grad = await explainImage(owner, image, { method: "gradcam", model, className: "Hernia" });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(grad.method, "gradcam");
  assert.ok(Math.abs(grad.probability - chosen.probability) < 1e-5);
  assert.ok(grad.map.data.every((v) => v >= 0));
  // Grad-CAM is ReLU(CAM) up to a positive factor on this head: positive cells coincide.
  chosen.map.data.forEach((v, i) =>
    assert.equal(v > 1e-6, grad.map.data[i]! > 1e-9 * Math.max(...grad.map.data), `cell ${i}`)
  );
  await assert.rejects(explainImage(owner, image, { method: "gradcam" }), /needs options.model/);
  await owner.dispose();
  await predictor.dispose();
});

Deno.test("localizeImages over the sample folder: every box of the 7 boxed images checked, accuracy per finding", async () => {
  using dir = tempDir();
  const predictor = await openPredictor(await tinyBundle(join(dir.path, "bundle"), 32), { engine: "tfjs" });
  const boxes = readBoundingBoxes(join(NIH_SAMPLE, "BBox_List_2017.csv.gz")).boxes;
  const seen: number[] = [];
  const report = await localizeImages(predictor, join(NIH_SAMPLE, "images"), boxes, {
    onProgress: (e) => seen.push(e.done),
  });
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(report.results.length, 7);
  assert.deepEqual(
    Object.fromEntries(Object.entries(report.table.perFinding).map(([f, r]) => [f, r.boxes])),
    { Cardiomegaly: 3, Infiltration: 1, Nodule: 1, Pneumonia: 2 },
  );
  for (const r of report.results) assert.ok(r.bestIobb >= 0 && r.bestIobb <= 1);
  assert.match(report[JUPYTER_DISPLAY]()["text/html"], /<th>T=0.1<\/th>.*<td>Cardiomegaly<\/td><td>3<\/td>/s);
  await predictor.dispose();
});

Deno.test("heatmapGallery: boxed sample images as thumbnails, plain and with boxes", async () => {
  using dir = tempDir();
  const predictor = await openPredictor(await tinyBundle(join(dir.path, "bundle"), 32), { engine: "tfjs" });
  const boxes = readBoundingBoxes(join(NIH_SAMPLE, "BBox_List_2017.csv.gz")).boxes;
  const g = await heatmapGallery(predictor, join(NIH_SAMPLE, "images"), boxes, { count: 2, thumb: 128 });
  assert.equal(g.items.length, 2);
  for (const it of g.items) {
    assert.equal(boxes.find((b) => b.image === it.image)!.finding, it.finding);
    const [a, b] = [await sharp(it.plain).metadata(), await sharp(it.boxed).metadata()];
    assert.deepEqual([a.width, b.width], [128, 128]);
    assert.notDeepEqual(it.plain, it.boxed);
  }
  const html = g[JUPYTER_DISPLAY]()["text/html"];
  assert.equal(
    (html.match(/<img alt="heatmap with NIH boxes" src="data:image\/png;base64,iVBOR/g) ?? []).length,
    2,
  );
  await predictor.dispose();
});
