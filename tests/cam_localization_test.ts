import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "./_fixtures.ts";
import {
  camForClass,
  localize,
  localizeImages,
  renderHeatmapRgb,
  scaleHeatmap,
  upsampleHeatmap,
} from "../lib/eval/mod.ts";
import { rocAuc } from "../lib/auroc.ts";
import { decodeImage, preprocess } from "../lib/images/mod.ts";
import {
  openPredictor,
  type Predictor,
  saveBundle,
  selectBackend,
  tf,
  tfl,
  writeBundleOnnx,
} from "../lib/model/mod.ts";
import { FINDINGS, prepareSplit, readBoundingBoxes, readEntries, synthesize } from "../lib/nih/mod.ts";
import { train } from "../lib/train/mod.ts";

// Class activation maps proven where the answer is known, on both engines (tfjs and ONNX Runtime's `cam`):
// first a hand-built model whose last feature map and classifier weights are chosen, so that the map, its
// orientation, its scaling and its upsampling to the image can be checked exactly; then the demo's own chain
// (synthetic NIH-layout set, tiny DenseNet, `train`, ONNX export, `localizeImages`) on a finding drawn in a
// known box, checked on images the model never saw.

const S = 32, CELL = 8; // a 32x32 image, 4x4 feature cells of 8x8 pixels

/**
 * image -> 8x8 average pooling (cell means m) -> 1x1 conv + ReLU: F0 = m / 255 (bright), F1 = relu(1 - m / 255)
 * (dark) -> global average pooling -> Dense(2, sigmoid) with kernel W, bias B. So cam_c = F0 * W[0][c] + F1 * W[1][c].
 */
const W: [[number, number], [number, number]] = [[3, -1], [-2, 1]], B: [number, number] = [0.25, -0.5];

function handBuiltModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [S, S, 1], name: "image" });
  let x = tfl.layers.averagePooling2d({ poolSize: CELL, strides: CELL, name: "cells" }).apply(input);
  x = tfl.layers.conv2d({ filters: 2, kernelSize: 1, activation: "relu", name: "relu" }).apply(x);
  x = tfl.layers.globalAveragePooling2d({ name: "avg_pool" }).apply(x);
  const y = tfl.layers.dense({ units: 2, activation: "sigmoid", name: "predictions" }).apply(x);
  const model = tfl.model({ inputs: input, outputs: y as tfl.SymbolicTensor });
  model.getLayer("relu").setWeights([tf.tensor4d([1 / 255, -1 / 255], [1, 1, 1, 2]), tf.tensor1d([0, 1])]);
  model.getLayer("predictions").setWeights([tf.tensor2d(W), tf.tensor1d(B)]);
  return model;
}

/** A dark image with a white cell at row 1, column 2 (so a height/width swap shows) and a grey one at (3, 0). */
function testImage(): { pixels: Uint8Array; cellMeans: number[] } {
  const cellMeans = new Array(16).fill(0);
  cellMeans[1 * 4 + 2] = 255;
  cellMeans[3 * 4 + 0] = 96;
  const pixels = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      pixels[y * S + x] = cellMeans[Math.floor(y / CELL) * 4 + Math.floor(x / CELL)];
    }
  }
  return { pixels, cellMeans };
}

async function bothEngines(dir: string): Promise<Predictor[]> {
  const model = handBuiltModel();
  await saveBundle(model, dir, { classNames: ["Bright", "Dark"], modelVersion: "hand-built" });
  await writeBundleOnnx(dir, { model });
  model.dispose();
  return [await openPredictor(dir, { engine: "tfjs" }), await openPredictor(dir, { engine: "onnx" })];
}

Deno.test("CAM of a hand-built model is exactly sum_k W[k][c] * F_k on both engines, the right way round, scaled and upsampled onto its cell", async () => {
  await selectBackend("cpu");
  using dir = tempDir();
  const { pixels, cellMeans } = testImage();
  const F = cellMeans.map((m) => [m / 255, Math.max(0, 1 - m / 255)] as const);
  const expected = (c: 0 | 1) => F.map(([f0, f1]) => f0 * W[0][c] + f1 * W[1][c]);
  const box = { x: 2 * CELL, y: 1 * CELL, w: CELL, h: CELL }; // the white cell, in image pixels
  for (const predictor of await bothEngines(join(dir.path, "bundle"))) {
    const { probabilities, cam } = await predictor.predict(pixels, 1, { cam: true });
    assert.deepEqual([cam!.height, cam!.width, cam!.classes], [4, 4, 2], predictor.engine);
    for (const c of [0, 1] as const) {
      const map = camForClass(cam!, 0, c);
      const want = expected(c);
      map.data.forEach((v, i) =>
        assert.ok(Math.abs(v - (want[i] ?? NaN)) < 1e-5, `${predictor.engine} class ${c} cell ${i}: ${v}`)
      );
      // The sigmoid head is the map's mean plus the bias: cam is the logit spread over the cells.
      const logit = want.reduce((a, b) => a + b, 0) / 16 + B[c];
      assert.ok(Math.abs((probabilities[c] ?? NaN) - 1 / (1 + Math.exp(-logit))) < 1e-5, predictor.engine);
    }
    const bright = camForClass(cam!, 0, 0);
    assert.equal(bright.data.indexOf(Math.max(...bright.data)), 1 * 4 + 2, "peak at row 1, column 2");
    // Scaled by its positive maximum: the white cell 1, the dark cells (evidence against) 0, the grey cell
    // (3 * 96/255 - 2 * 159/255 < 0) 0 as well.
    assert.deepEqual([...scaleHeatmap(bright).data].map((v) => Math.round(v * 1000) / 1000), [
      ...[0, 0, 0, 0],
      ...[0, 0, 1, 0],
      ...[0, 0, 0, 0],
      ...[0, 0, 0, 0],
    ]);
    // Upsampled to the image (half-pixel centres), the region above half the maximum lies inside the white
    // cell and is centred on it: IoBB 1 at every threshold.
    const full = upsampleHeatmap(bright, S, S);
    const peak = full.data.indexOf(Math.max(...full.data));
    const [px, py] = [peak % S, Math.floor(peak / S)];
    assert.ok(px >= box.x && px < box.x + box.w && py >= box.y && py < box.y + box.h, `peak at ${px},${py}`);
    const hit = localize(full, box);
    assert.equal(hit.bestIobb, 1);
    assert.ok(hit.hits.every(Boolean));
    // The other class's map is hot everywhere but there: a miss at every threshold.
    assert.ok(localize(upsampleHeatmap(camForClass(cam!, 0, 1), S, S), box).hits.every((h) => !h));
    // The overlay is red over the white cell and turbo's dark end over the others.
    const rgb = renderHeatmapRgb({ data: pixels, width: S, height: S }, bright, { alpha: 1 });
    const at = (x: number, y: number) => [...rgb.subarray((y * S + x) * 3, (y * S + x) * 3 + 3)];
    const [r1 = NaN, , b1 = NaN] = at(box.x + 4, box.y + 4), [r0 = NaN] = at(4, 28);
    assert.ok(r1 > b1 + 100 && r1 > r0 + 100, `inside ${at(box.x + 4, box.y + 4)}, outside ${at(4, 28)}`);
    await predictor.dispose();
  }
});

Deno.test("min-max scaling of a mostly negative CAM is what made the border look hot and the regions span the image", () => {
  // A CAM as a sigmoid head trained on rare findings makes it: evidence against the finding over the anatomy
  // (most negative in the middle), about 0 over the empty border, and the finding's own evidence in one cell.
  const data = new Float32Array([
    ...[-0.1, -0.2, -0.2, -0.1],
    ...[-0.2, -3, 0.5, -0.2],
    ...[-0.2, -6, -4, -0.2],
    ...[-0.1, -0.2, -0.2, -0.1],
  ]);
  const map = upsampleHeatmap({ data, width: 4, height: 4 }, S, S);
  const box = { x: 2 * CELL, y: 1 * CELL, w: CELL, h: CELL };
  assert.equal(localize(map, box).bestIobb, 1);
  const minmax = localize(map, box, { scale: "minmax" });
  assert.ok(minmax.bestIobb < 0.1, `min-max: IoBB ${minmax.bestIobb}`); // one region over nearly all the image
});

/**
 * The trained case: 64 px images (8x8 maps of 8 px cells; at 48 px an Effusion box is under one cell tall) and
 * CheXNet's class-weighted loss, with which this tiny model reaches an Effusion AUROC >= 0.95 on held-out images.
 */
const SIZE = 64, TRAIN_IMAGES = 400, HELD_OUT_IMAGES = 400, EPOCHS = 10, FINDING = "Effusion";
const TRAINING = { arch: "tiny", batchSize: 8, weightedLoss: true } as const;

Deno.test(`CAM of a tiny DenseNet trained on synthetic X-rays puts ${FINDING} in its box on images it never saw, tfjs and ONNX`, async () => {
  await selectBackend("wasm");
  using dir = tempDir();
  const data = join(dir.path, "nih"), heldOut = join(dir.path, "held-out"), cache = join(dir.path, "cache");
  await synthesize(data, { images: TRAIN_IMAGES, size: SIZE, seed: 1 });
  const { split } = prepareSplit(data, { method: "official", valFraction: 0.25, seed: 1 });
  await preprocess(data, cache, { split, size: SIZE, partitions: ["train", "val"] });
  // Seeded initial weights, shuffling and augmentation: the same model every run on a given backend.
  const summary = await train(cache, join(dir.path, "run"), { ...TRAINING, epochs: EPOCHS, seed: 1 });
  // A second synthetic set from another seed: same generator, other patients, labels, boxes and pixels.
  await synthesize(heldOut, { images: HELD_OUT_IMAGES, size: SIZE, seed: 2 });
  const entries = readEntries(join(heldOut, "Data_Entry_2017.csv")).entries;
  const k = FINDINGS.indexOf(FINDING);
  const pixels = new Uint8Array(entries.length * SIZE * SIZE);
  for (const [i, e] of entries.entries()) {
    pixels.set(await decodeImage(join(heldOut, "images", e.image), SIZE), i * SIZE * SIZE);
  }
  const boxes = readBoundingBoxes(join(heldOut, "BBox_List_2017.csv")).boxes.filter((b) =>
    b.finding === FINDING
  );
  assert.ok(boxes.length >= 8, `${boxes.length} ${FINDING} boxes in the held-out set`);
  for (const engine of ["tfjs", "onnx"] as const) {
    const predictor = await openPredictor(summary.bundle, { engine });
    const { probabilities } = await predictor.predict(pixels, entries.length);
    const auroc = rocAuc(
      entries.map((_, i) => probabilities[i * FINDINGS.length + k] ?? NaN),
      entries.map((e) => e.labels[k] ?? NaN),
    )!;
    const report = await localizeImages(predictor, join(heldOut, "images"), boxes, {
      thresholds: [0.1, 0.3],
    });
    const old = await localizeImages(predictor, join(heldOut, "images"), boxes, {
      thresholds: [0.1, 0.3],
      scale: "minmax",
    });
    await predictor.dispose();
    const row = report.table.perFinding[FINDING] ??
      assert.fail(`no ${FINDING} row in the localization table`);
    const before = old.table.perFinding[FINDING] ?? assert.fail(`no ${FINDING} row (min-max scaling)`);
    const [hit1 = NaN, hit3 = NaN] = row.accuracy, [, beforeHit3 = NaN] = before.accuracy;
    const shown =
      `${engine}: AUROC ${auroc.toFixed(3)}, ${row.boxes} boxes, peak in box ${row.peakInside}, ` +
      `hit at T=0.1/0.3 ${row.accuracy} (min-max scaling: ${before.accuracy}, peak ${before.peakInside})`;
    console.log(shown);
    assert.ok(auroc >= 0.95, shown);
    assert.ok(row.peakInside > 0.5, shown); // the map's maximum lies inside the box for most positives
    assert.ok(hit1 > 0.5 && hit3 > 0, shown);
    assert.ok(hit3 > beforeHit3, shown); // min-max scaling's regions are too large
  }
});
