/**
 * Scores matched by image name with the labels of a `Data_Entry_2017*.csv` file, optionally restricted to a
 * list such as `test_list.txt`.
 *
 * @module
 */
import { type EntryTable, FINDINGS, type SplitList } from "../nih/mod.ts";
import type { ScoreSet } from "./scores_merge.ts";

const C = FINDINGS.length;

/** Scores matched with labels, ready for `evaluateScores`. */
export interface LabelledScores {
  /** The images evaluated, sorted by name. */
  images: string[];
  /** `images.length * 14` scores, row-major. */
  scores: Float64Array;
  /** `images.length * 14` labels, same layout. */
  labels: Uint8Array;
  /** Listed images without a score, in list order (empty without a list). */
  missing: string[];
  /** Scored images (listed, with a list) that the label file does not have, sorted. */
  unlabeled: string[];
  /** Scored images not in the list, sorted (empty without a list). */
  outsideList: string[];
}

/**
 * Matches scores with the label file's rows by image name: every scored image with labels, or, with
 * `list`, every listed image (reporting those without a score as `missing`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEntries, parseSplitList } from "../nih/mod.ts";
 * const entries = parseEntries("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender," +
 *   "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n" +
 *   "00000001_000.png,Mass,0,1,58,M,PA,2682,2749,0.143,0.143\n00000002_000.png,No Finding,0,2,81,M,PA,2500,2048,0.171,0.171\n");
 * const row = (v: number) => ({ image: "", scores: new Float64Array(14).fill(v), source: "" });
 * const rows = new Map([["00000002_000.png", row(0.2)], ["00000001_000.png", row(0.9)], ["00000009_000.png", row(0.5)]]);
 * const all = labelScores({ rows }, entries);
 * assert.deepEqual(all.images, ["00000001_000.png", "00000002_000.png"]);
 * assert.equal(all.labels[4], 1); // Mass of the first
 * assert.deepEqual(all.unlabeled, ["00000009_000.png"]);
 * const listed = labelScores({ rows }, entries, parseSplitList("00000002_000.png\n00000003_000.png"));
 * assert.deepEqual([listed.images, listed.missing], [["00000002_000.png"], ["00000003_000.png"]]);
 * assert.deepEqual(listed.outsideList, ["00000001_000.png", "00000009_000.png"]);
 * ```
 */
export function labelScores(
  set: Pick<ScoreSet, "rows">,
  entries: EntryTable,
  list?: SplitList,
): LabelledScores {
  const labelsOf = new Map(entries.entries.map((e) => [e.image, e.labels]));
  const images: string[] = [], missing: string[] = [], unlabeled: string[] = [];
  for (const name of list ? list.images : set.rows.keys()) {
    if (!set.rows.has(name)) missing.push(name);
    else if (!labelsOf.has(name)) unlabeled.push(name);
    else images.push(name);
  }
  images.sort();
  unlabeled.sort();
  const listed = list && new Set(list.images);
  const outsideList = listed ? [...set.rows.keys()].filter((k) => !listed.has(k)).sort() : [];
  const scores = new Float64Array(images.length * C);
  const labels = new Uint8Array(images.length * C);
  images.forEach((name, i) => {
    scores.set(set.rows.get(name)!.scores, i * C);
    labels.set(labelsOf.get(name)!, i * C);
  });
  return { images, scores, labels, missing, unlabeled, outsideList };
}
