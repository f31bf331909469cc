import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { synthesize, type SynthProgress, SynthTargetError } from "./synth.ts";
import { mulberry32 } from "../random.ts";
import { JUPYTER_DISPLAY } from "../display.ts";
import { type Box, findingBox, geometry, render } from "./_synth_draw.ts";
import { tempDir } from "../../tests/_fixtures.ts";
import { bboxCsv, dataEntryCsv, planSynthetic, splitLists } from "./_synth_plan.ts";
import { FINDINGS, NO_FINDING, parseFindingLabels } from "./classes.ts";
import { parseEntries } from "./entries.ts";
import { parseBoundingBoxes } from "./bbox.ts";

/** Area under the ROC curve by the rank-sum formula (no ties expected with real-valued scores). */
function auroc(scores: number[], positive: boolean[]): number {
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  let pos = 0, rankSum = 0;
  order.forEach(([, i], r) => {
    if (positive[i]) (pos++, rankSum += r + 1);
  });
  const neg = scores.length - pos;
  return (rankSum - pos * (pos + 1) / 2) / (pos * neg);
}

/**
 * A linear classifier on pixels: difference of class means over pooled variance, kept on the 16 pixels that
 * separate best in training; returns the AUROC on the held-out images.
 */
function heldOutAuroc(
  trainX: Float64Array[],
  trainY: boolean[],
  testX: Float64Array[],
  testY: boolean[],
): number {
  const d = trainX[0]?.length ?? 0;
  const mean = (rows: Float64Array[]) => {
    const m = new Float64Array(d);
    for (const r of rows) for (let j = 0; j < d; j++) m[j]! += r[j]! / rows.length;
    return m;
  };
  const mp = mean(trainX.filter((_, i) => trainY[i])), mn = mean(trainX.filter((_, i) => !trainY[i]));
  const v = new Float64Array(d);
  trainX.forEach((r, i) => {
    const m = trainY[i] ? mp : mn;
    for (let j = 0; j < d; j++) v[j]! += (r[j]! - m[j]!) ** 2 / trainX.length;
  });
  const w = Array.from(mp, (a, j) => (a - mn[j]!) / (v[j]! + 1));
  const cut = w.map(Math.abs).sort((a, b) => b - a)[15] ?? 0;
  const score = (r: Float64Array) => w.reduce((s, wj, j) => (Math.abs(wj) >= cut ? s + wj * r[j]! : s), 0);
  return auroc(testX.map(score), testY);
}

async function downscale(pixels: Uint8Array | Buffer, size: number, to = 32): Promise<Float64Array> {
  const img = pixels instanceof Uint8Array && !(pixels instanceof Buffer)
    ? sharp(pixels, { raw: { width: size, height: size, channels: 1 } })
    : sharp(pixels);
  return Float64Array.from(await img.resize(to, to).toColourspace("b-w").raw().toBuffer());
}

Deno.test("plan: NIH-like label frequencies, follow-ups, rare findings present, patient-wise 80/20 split", () => {
  const plan = planSynthetic(5000, 3);
  assert.equal(plan.rows.length, 5000);
  const count = (k: number) => plan.rows.filter((r) => r.labels.includes(k)).length;
  const normal = plan.rows.filter((r) => r.labels.length === 0).length / 5000;
  assert.ok(normal > 0.45 && normal < 0.6, `No Finding share ${normal}`);
  const counts = FINDINGS.map((_, k) => count(k));
  assert.equal(Math.max(...counts), counts[FINDINGS.indexOf("Infiltration")]);
  assert.ok(counts.every((c) => c >= 5), `every finding at least 5 times: ${counts}`);
  assert.ok((counts[13] ?? NaN) < (counts[3] ?? NaN) / 5, "Hernia is rare");
  assert.ok(plan.rows.some((r) => r.labels.length >= 3), "multi-label rows");
  assert.ok(plan.patients < 5000 / 2 && plan.patients > 5000 / 4, `${plan.patients} patients`);
  const { trainVal, test } = splitLists(plan);
  assert.equal(trainVal.length + test.length, 5000);
  const patientsOf = (names: string[]) => new Set(names.map((n) => n.slice(0, 8)));
  const tp = patientsOf(test);
  assert.ok([...patientsOf(trainVal)].every((p) => !tp.has(p)), "patient-disjoint");
  assert.ok(Math.abs(tp.size / plan.patients - 0.2) < 0.01);
  assert.deepEqual(test, [...test].sort());
});

Deno.test("plan: the CSVs parse with the project's own parsers and agree with the plan", () => {
  const plan = planSynthetic(300, 11);
  const table = parseEntries(dataEntryCsv(plan));
  assert.equal(table.variant, "v2020");
  assert.equal(table.entries.length, 300);
  table.entries.forEach((e, i) => {
    const row = plan.rows[i] ?? assert.fail(`no plan row ${i}`);
    assert.equal(e.image, row.name);
    assert.equal(e.patientId, row.patient);
    assert.deepEqual(FINDINGS.filter((_, k) => e.labels[k]), row.labels.map((k) => FINDINGS[k]));
  });
  const boxes = parseBoundingBoxes(bboxCsv(plan, 1024)).boxes;
  assert.ok(boxes.length >= 10, `${boxes.length} boxes`);
  for (const b of boxes) {
    const row = plan.rows.find((r) => r.name === b.image)!;
    assert.ok(row.labels.includes(FINDINGS.indexOf(b.finding)), `${b.image} has no ${b.finding}`);
    assert.ok(b.x >= 0 && b.y >= 0 && b.x + b.w <= 1024 && b.y + b.h <= 1024);
  }
  assert.equal(parseFindingLabels(NO_FINDING).length, 14);
});

Deno.test("render: each finding's pattern lies inside its box", () => {
  for (let k = 0; k < FINDINGS.length; k++) {
    const seed = 1000 + k;
    const without = render(geometry([], seed), 128);
    const g = geometry([k], seed);
    const withK = render(g, 128);
    const box = findingBox(g, k) ?? assert.fail(`no box for ${FINDINGS[k]}`);
    const [x, y, w, h] = box.map((v) => v * 128) as Box;
    let inside = 0, total = 0;
    for (let i = 0; i < withK.length; i++) {
      const diff = Math.abs(withK[i]! - without[i]!);
      if (diff < 10) continue; // noise
      const px = i % 128 + 0.5, py = Math.floor(i / 128) + 0.5;
      total += diff;
      if (px >= x - 2 && px <= x + w + 2 && py >= y - 2 && py <= y + h + 2) inside += diff;
    }
    assert.ok(total > 0, `${FINDINGS[k]} draws nothing`);
    // Emphysema changes the whole lung fields, which are its box; Cardiomegaly the heart.
    assert.ok(
      inside / total > 0.95,
      `${FINDINGS[k]}: ${((100 * inside) / total).toFixed(1)} % inside its box`,
    );
  }
});

Deno.test("render: every finding is learnable from 32x32 thumbnails (held-out AUROC > 0.8)", async () => {
  const rnd = mulberry32(99);
  const x: Float64Array[] = [], labels: number[][] = [];
  for (let i = 0; i < 300; i++) {
    const l = FINDINGS.map((_, k) => k).filter(() => rnd() < 0.2);
    x.push(await downscale(render(geometry(l, 5000 + i), 128), 128));
    labels.push(l);
  }
  for (let k = 0; k < FINDINGS.length; k++) {
    const y = labels.map((l) => l.includes(k));
    const a = heldOutAuroc(x.slice(0, 150), y.slice(0, 150), x.slice(150), y.slice(150));
    assert.ok(a > 0.8, `${FINDINGS[k]}: AUROC ${a.toFixed(3)}`);
  }
});

Deno.test("synthesize: written PNGs separate findings on the patient-wise test list (AUROC > 0.8)", async () => {
  using dir = tempDir();
  await synthesize(dir.path, { images: 400, seed: 5, size: 256 });
  const entries = parseEntries(readFileSync(join(dir.path, "Data_Entry_2017.csv"), "utf8")).entries;
  const test = new Set(readFileSync(join(dir.path, "test_list.txt"), "utf8").split("\n"));
  const x = await Promise.all(
    entries.map((e) => downscale(readFileSync(join(dir.path, "images", e.image)), 256)),
  );
  const isTest = entries.map((e) => test.has(e.image));
  let checked = 0;
  for (let k = 0; k < FINDINGS.length; k++) {
    const y = entries.map((e) => e.labels[k] === 1);
    const part = (t: boolean) => ({
      x: x.filter((_, i) => isTest[i] === t),
      y: y.filter((_, i) => isTest[i] === t),
    });
    const [tr, te] = [part(false), part(true)];
    if (tr.y.filter(Boolean).length < 8 || te.y.filter(Boolean).length < 4) continue;
    const a = heldOutAuroc(tr.x, tr.y, te.x, te.y);
    assert.ok(a > 0.8, `${FINDINGS[k]}: AUROC ${a.toFixed(3)}`);
    checked++;
  }
  assert.ok(checked >= 4, `only ${checked} findings had enough positives`);
});

Deno.test("synthesize: 1024x1024 one-channel 8-bit PNGs, deterministic bytes, progress to the total", async () => {
  using a = tempDir();
  using b = tempDir();
  const events: SynthProgress[] = [];
  await synthesize(a.path, { images: 3, seed: 9, onProgress: (e) => events.push(e) });
  await synthesize(b.path, { images: 3, seed: 9, concurrency: 1 });
  assert.deepEqual(events.map((e) => e.done), [1, 2, 3]);
  assert.equal(events.at(-1)!.written, 3);
  const names = readdirSync(join(a.path, "images")).sort();
  assert.equal(names.length, 3);
  for (const name of names) {
    const png = readFileSync(join(a.path, "images", name));
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels, meta.depth], [1024, 1024, 1, "uchar"]);
    assert.deepEqual(png, readFileSync(join(b.path, "images", name)));
  }
  for (const f of ["Data_Entry_2017.csv", "BBox_List_2017.csv", "train_val_list.txt", "test_list.txt"]) {
    assert.equal(readFileSync(join(a.path, f), "utf8"), readFileSync(join(b.path, f), "utf8"), f);
  }
  assert.match(readFileSync(join(a.path, "README.md"), "utf8"), /synthetic/i);
});

Deno.test("synthesize: the summary displays as a label table in Jupyter and stays plain JSON", async () => {
  using dir = tempDir();
  const summary = await synthesize(dir.path, { images: 20, seed: 1, size: 32 });
  const bundle =
    (summary as unknown as { [JUPYTER_DISPLAY](): { "text/markdown": string; "text/plain": string } })
      [JUPYTER_DISPLAY]();
  assert.match(bundle["text/markdown"], /^20 synthetic images of \d+ patients/);
  assert.match(bundle["text/markdown"], /\| Hernia \| \d+ \|/);
  assert.match(bundle["text/plain"], /No Finding/);
  assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(summary))), Object.keys(summary));
});

Deno.test("synthesize: a re-run keeps whole PNGs, rewrites missing or truncated ones, redoes all on new settings", async () => {
  using dir = tempDir();
  const first = await synthesize(dir.path, { images: 8, seed: 2, size: 64 });
  assert.deepEqual([first.written, first.skipped], [8, 0]);
  const imgs = join(dir.path, "images");
  const [name0 = "", name1 = ""] = readdirSync(imgs).sort();
  const original = readFileSync(join(imgs, name1));
  unlinkSync(join(imgs, name0));
  truncateSync(join(imgs, name1), 100);
  const again = await synthesize(dir.path, { images: 8, seed: 2, size: 64 });
  assert.deepEqual([again.written, again.skipped], [2, 6]);
  assert.deepEqual(readFileSync(join(imgs, name1)), original);
  assert.equal(readdirSync(imgs).filter((n) => n.includes(".tmp")).length, 0);
  const other = await synthesize(dir.path, { images: 8, seed: 3, size: 64 });
  assert.deepEqual([other.written, other.skipped], [8, 0]);
});

Deno.test("synthesize: bad options are TypeError or RangeError naming the option", async () => {
  await assert.rejects(synthesize("x", { images: 0 }), RangeError);
  await assert.rejects(synthesize("x", { images: 2.5 }), /images must be an integer 1\.\.1000000, got 2\.5/);
  await assert.rejects(synthesize("x", { images: "3" as unknown as number }), TypeError);
  await assert.rejects(synthesize("x", { images: 3, size: 8 }), /size must be an integer 16\.\.4096/);
  await assert.rejects(synthesize("x", { images: 3, seed: -1 }), /seed/);
});

Deno.test("synthesize: refuses a folder with NIH files it did not write, and leaves it untouched", async () => {
  using dir = tempDir();
  writeFileSync(join(dir.path, "Data_Entry_2017.csv"), "real");
  await assert.rejects(synthesize(dir.path, { images: 2, size: 32 }), SynthTargetError);
  assert.deepEqual(readdirSync(dir.path), ["Data_Entry_2017.csv"]);
  using imgs = tempDir();
  mkdirSync(join(imgs.path, "images"));
  writeFileSync(join(imgs.path, "images", "00000001_000.png"), "real");
  await assert.rejects(synthesize(imgs.path, { images: 2, size: 32 }), /holds images\/ but no synth\.json/);
});
