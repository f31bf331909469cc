/**
 * The metadata side of the synthetic data set: patients, follow-ups, labels with NIH-like frequencies,
 * bounding boxes and the patient-wise split, all drawn from one seed. Private to {@link ./synth.ts}.
 *
 * @module
 */
import { mixSeed, mulberry32 } from "../random.ts";
import { findingBox, geometry } from "./_synth_draw.ts";
import { FINDINGS } from "./classes.ts";

/** Share of NIH images carrying each finding (v2020 label file), floored at 1 % so rare ones still appear. */
const WEIGHTS = [
  0.103,
  0.025,
  0.119,
  0.177,
  0.052,
  0.056,
  0.013,
  0.047,
  0.042,
  0.021,
  0.022,
  0.015,
  0.03,
  0.002,
]
  .map((f) => Math.max(f, 0.01));
/** NIH: 46 % of images have a finding; of those 60 % one, 28 % two, 9 % three, 2 % four, 1 % five. */
const P_ABNORMAL = 0.46;
const LABEL_COUNTS = [0.6, 0.276, 0.094, 0.024, 0.006];
/** Findings the real `BBox_List_2017.csv` has boxes for (indices into FINDINGS). */
const BOXED = [0, 1, 2, 3, 4, 5, 6, 7];
const BOX_SHARE = 0.25;
/** The commonest (view, original width, height, pixel spacing) combinations of the real label file. */
const ACQUISITIONS: readonly [weight: number, fields: string][] = [
  [23413, "AP,2500,2048,0.168,0.168"],
  [21959, "PA,2992,2991,0.14300000000000002,0.14300000000000002"],
  [13735, "AP,3056,2544,0.139,0.139"],
  [6573, "PA,2500,2048,0.168,0.168"],
  [4592, "PA,2048,2500,0.168,0.168"],
  [4480, "AP,2500,2048,0.171,0.171"],
  [4263, "PA,2021,2021,0.19431099999999998,0.19431099999999998"],
];

/** One image of the plan. */
export interface SynthRow {
  /** `00000001_000.png` */
  name: string;
  patient: number;
  followUp: number;
  /** Finding indices, ascending. */
  labels: number[];
  age: number;
  gender: "M" | "F";
  /** View position, original width and height, pixel spacing x and y, comma-joined as in the CSV. */
  acquisition: string;
  /** Seed of this image's geometry and noise. */
  seed: number;
}

/** The whole data set's metadata. */
export interface SynthPlan {
  rows: SynthRow[];
  patients: number;
  /** Patient ids in the test list. */
  testPatients: Set<number>;
  /** Boxes in normalised coordinates. */
  boxes: { name: string; finding: number; box: [number, number, number, number] }[];
}

function pick(rnd: () => number, weights: readonly number[]): number {
  let r = rnd() * weights.reduce((a, b) => a + b, 0);
  for (const [i, w] of weights.entries()) if ((r -= w) < 0) return i;
  return weights.length - 1;
}

function drawLabels(rnd: () => number): number[] {
  if (rnd() >= P_ABNORMAL) return [];
  const k = 1 + pick(rnd, LABEL_COUNTS);
  const w = [...WEIGHTS];
  const labels: number[] = [];
  for (let i = 0; i < k; i++) {
    const c = pick(rnd, w);
    labels.push(c);
    w[c] = 0;
  }
  return labels.sort((a, b) => a - b);
}

/**
 * Draws the metadata of `images` synthetic images from `seed`: about 2.5 images per patient, labels with
 * NIH-like frequencies, every finding at least `min(5, floor(images / 40))` times, boxes on a quarter of
 * the boxable findings, 20 % of patients in the test list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const plan = planSynthetic(50, 1);
 * assert.equal(plan.rows.length, 50);
 * assert.equal(plan.rows[0]?.name, "00000001_000.png");
 * assert.equal(plan.rows.at(-1)!.patient, plan.patients);
 * ```
 */
export function planSynthetic(images: number, seed: number): SynthPlan {
  const rnd = mulberry32(mixSeed(seed, 1));
  const rows: SynthRow[] = [];
  let patient = 0;
  while (rows.length < images) {
    patient++;
    const count = Math.min(1 + Math.floor(-Math.log(1 - rnd()) * 1.6), 10, images - rows.length);
    const age = 18 + Math.floor(rnd() * 70);
    const gender = rnd() < 0.56 ? "M" : "F";
    let labels = drawLabels(rnd);
    for (let f = 0; f < count; f++) {
      if (f > 0 && !(labels.length > 0 && rnd() < 0.5)) labels = drawLabels(rnd);
      const [, acquisition] = ACQUISITIONS[pick(rnd, ACQUISITIONS.map((a) => a[0]))]!; // pick: an index of its weights
      const name = `${String(patient).padStart(8, "0")}_${String(f).padStart(3, "0")}.png`;
      const index = rows.length;
      rows.push({
        name,
        patient,
        followUp: f,
        labels: [...labels],
        age: age + Math.floor(f / 3),
        gender,
        acquisition,
        seed: mixSeed(seed, 2, index),
      });
    }
  }
  // Top up rare findings so that each one can be learnt and evaluated.
  const least = Math.min(5, Math.floor(images / 40));
  for (let k = 0; k < FINDINGS.length; k++) {
    let have = rows.filter((r) => r.labels.includes(k)).length;
    for (let tries = 0; have < least && tries < images * 4; tries++) {
      const r = rows[Math.floor(rnd() * rows.length)];
      if (!r || r.labels.includes(k)) continue;
      r.labels = [...r.labels, k].sort((a, b) => a - b);
      have++;
    }
  }
  const ids = Array.from({ length: patient }, (_, i) => i + 1);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const nTest = patient < 2 ? 0 : Math.max(1, Math.round(patient * 0.2));
  const boxRnd = mulberry32(mixSeed(seed, 3));
  const boxes: SynthPlan["boxes"] = [];
  for (const r of rows) {
    const boxed = r.labels.filter((k) => BOXED.includes(k) && boxRnd() < BOX_SHARE);
    if (boxed.length === 0) continue;
    const g = geometry(r.labels, r.seed);
    for (const k of boxed) boxes.push({ name: r.name, finding: k, box: findingBox(g, k)! });
  }
  return { rows, patients: patient, testPatients: new Set(ids.slice(0, nTest)), boxes };
}

/**
 * The `Finding Labels` field: names in alphabetical order joined by `|`, or `No Finding`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(labelField([12, 6]), "Pleural_Thickening|Pneumonia");
 * assert.equal(labelField([]), "No Finding");
 * ```
 */
export function labelField(labels: readonly number[]): string {
  return labels.length === 0 ? "No Finding" : labels.map((k) => FINDINGS[k]).sort().join("|");
}

/**
 * The text of `Data_Entry_2017.csv` (v2020 format: 11 fields, LF line ends, final newline).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const lines = dataEntryCsv(planSynthetic(3, 1)).split("\n");
 * assert.equal(lines.length, 5);
 * assert.ok(lines.slice(1, 4).every((l) => l.split(",").length === 11));
 * ```
 */
export function dataEntryCsv(plan: SynthPlan): string {
  const header =
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position," +
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]";
  const lines = plan.rows.map((r) =>
    [r.name, labelField(r.labels), r.followUp, r.patient, r.age, r.gender, r.acquisition].join(",")
  );
  return [header, ...lines].join("\n") + "\n";
}

/**
 * The text of `BBox_List_2017.csv` for images of `size` pixels (header as in the real file).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(bboxCsv(planSynthetic(100, 1), 1024), /^Image Index,Finding Label,Bbox \[x,y,w,h\],,,\n\d{8}_\d{3}\.png,/);
 * ```
 */
export function bboxCsv(plan: SynthPlan, size: number): string {
  const num = (v: number) => String(Math.round(v * size * 1e6) / 1e6);
  const lines = plan.boxes.map(({ name, finding, box }) => {
    const label = finding === 3 ? "Infiltrate" : FINDINGS[finding];
    return [name, label, ...box.map(num)].join(",");
  });
  return ["Image Index,Finding Label,Bbox [x,y,w,h],,,", ...lines].join("\n") + "\n";
}

/**
 * The two split lists as sorted names (written one per line, no newline after the last, as the real ones).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const { trainVal, test } = splitLists(planSynthetic(100, 1));
 * assert.equal(trainVal.length + test.length, 100);
 * assert.ok(test.length > 0);
 * ```
 */
export function splitLists(plan: SynthPlan): { trainVal: string[]; test: string[] } {
  const trainVal: string[] = [];
  const test: string[] = [];
  for (const r of plan.rows) (plan.testPatients.has(r.patient) ? test : trainVal).push(r.name);
  return { trainVal: trainVal.sort(), test: test.sort() };
}
