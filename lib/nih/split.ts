/**
 * Patient-wise train/val/test splits; the split file (`cxr-split/1`) is in `split_file.ts`.
 *
 * Two methods: `seed` reproduces the seed project's split exactly (patients without bounding boxes shuffled
 * with CPython's `random.seed(0)`, 70 % train, 10 % val, the rest and every boxed patient test); `official`
 * takes NIH's `train_val_list.txt` / `test_list.txt` and carves a validation part out of train_val by patient.
 * Either can then be restricted to the images present in a folder (`restrictToPresent`, `split_present.ts`).
 *
 * @module
 */
import {
  IMAGE_NAME,
  notAnImageName,
  patientCounts,
  patientOf,
  preview,
  readInputFile,
  splitLines,
} from "./_format.ts";
import { NihFormatError } from "./errors.ts";
import { type BoundingBoxTable, boxedPatients } from "./bbox.ts";
import { applyBlacklist, type Blacklist } from "./blacklist.ts";
import type { Entry, EntryTable } from "./entries.ts";
import { MersenneTwister } from "./mt19937.ts";
import {
  type Partition,
  PARTITIONS,
  type Split,
  SPLIT_FORMAT,
  splitDigest,
  SplitError,
  type SplitMethod,
  type SplitResult,
} from "./split_file.ts";

/** Options shared by both methods. */
export interface SplitOptions {
  /** Seed of CPython's `random.seed`. @default 0 */
  seed?: number;
  /** Images to leave out. */
  blacklist?: Blacklist | undefined;
}

function finish(
  method: SplitMethod,
  seed: number,
  inputs: Split["inputs"],
  images: Record<Partition, string[]>,
  valFraction?: number,
): Split {
  for (const p of PARTITIONS) images[p].sort();
  return {
    format: SPLIT_FORMAT,
    method,
    seed,
    ...(valFraction !== undefined ? { valFraction } : {}),
    inputs,
    digest: splitDigest(images),
    patients: patientCounts(images),
    images,
  };
}

function input(t: { file: string; sha256: string }) {
  return { file: t.file, sha256: t.sha256 };
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new TypeError(`seed must be a safe integer, got ${seed}`);
}

/**
 * The seed project's split: all patients (ascending) minus every patient with a bounding box, shuffled with
 * CPython's `random.seed(seed)` + `random.shuffle`; with `n` the number of all patients, train is the first
 * `int(n * 0.7)` of the shuffled list, val up to index `int(n * 0.8)`, test the rest plus all boxed patients.
 * Images follow their patients; blacklisted images are left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const entries = Array.from({ length: 10 }, (_, i) => ({ image: `${String(i + 1).padStart(8, "0")}_000.png`, patientId: i + 1 }));
 * const table = { file: "e.csv", variant: "v2020" as const, entries: entries as never, sha256: "" };
 * const boxes = { file: "b.csv", sha256: "", boxes: [{ image: "00000003_000.png", patientId: 3, finding: "Mass" as const, x: 0, y: 0, w: 1, h: 1 }] };
 * const { split } = seedSplit(table, boxes);
 * assert.deepEqual(split.patients, { train: 7, val: 1, test: 2 });
 * assert.ok(split.images.test.includes("00000003_000.png"));
 * ```
 */
export function seedSplit(
  entries: EntryTable,
  boxes: BoundingBoxTable,
  options: SplitOptions = {},
): SplitResult {
  const seed = options.seed ?? 0;
  checkSeed(seed);
  const warnings: string[] = [];
  const all = [...new Set(entries.entries.map((e) => e.patientId))].sort((a, b) => a - b);
  const boxed = new Set(boxedPatients(boxes.boxes));
  const rest = all.filter((p) => !boxed.has(p));
  new MersenneTwister(seed).shuffle(rest);
  const a = Math.floor(all.length * 0.7);
  const b = Math.floor(all.length * 0.8);
  const partOf = new Map<number, Partition>();
  rest.forEach((p, i) => partOf.set(p, i < a ? "train" : i < b ? "val" : "test"));
  for (const p of boxed) partOf.set(p, "test");
  const inputs: Split["inputs"] = { entries: input(entries), bbox: input(boxes) };
  const kept = blacklisted(entries.entries, options.blacklist, inputs, warnings);
  const images: Record<Partition, string[]> = { train: [], val: [], test: [] };
  for (const e of kept) images[partOf.get(e.patientId)!].push(e.image);
  return { split: finish("seed", seed, inputs, images), warnings };
}

function blacklisted(
  entries: readonly Entry[],
  blacklist: Blacklist | undefined,
  inputs: Split["inputs"],
  warnings: string[],
): readonly Entry[] {
  if (!blacklist) return entries;
  inputs.blacklist = input(blacklist);
  const r = applyBlacklist(entries, blacklist.images);
  const names = `${r.unknown.length} blacklisted names of "${blacklist.file}"`;
  if (r.unknown.length > 0) warnings.push(`${names} are not in the entries: ${preview(r.unknown)}`);
  return r.kept;
}

/** A list of image names: `train_val_list.txt` or `test_list.txt`. */
export interface SplitList {
  /** The file name used in messages. */
  file: string;
  /** The names, in file order. */
  images: string[];
  /** Hex sha256 of the file as stored; empty when parsed from text. */
  sha256: string;
}

/**
 * Parses an NIH list file: one image name per line, with or without a newline after the last.
 *
 * @throws {NihFormatError} On a line that is not an image name, or a name listed twice.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseSplitList("00000001_000.png\n00000001_001.png").images, ["00000001_000.png", "00000001_001.png"]);
 * assert.throws(() => parseSplitList("00000001_000.png\n00000001_000.png"), /line 2, column 1: "00000001_000.png" is listed twice/);
 * ```
 */
export function parseSplitList(text: string, options: { file?: string } = {}): SplitList {
  const file = options.file ?? "list.txt";
  const seen = new Map<string, number>();
  splitLines(text).forEach((name, i) => {
    const where = [file, i + 1, 1] as const;
    if (!IMAGE_NAME.test(name)) throw new NihFormatError(notAnImageName(name, i), ...where);
    if (seen.has(name)) {
      throw new NihFormatError(`"${name}" is listed twice (first at line ${seen.get(name)})`, ...where);
    }
    seen.set(name, i + 1);
  });
  return { file, images: [...seen.keys()], sha256: "" };
}

/** Reads an NIH list file (plain or gzipped). */
export function readSplitList(path: string): SplitList {
  const f = readInputFile(path);
  return { ...parseSplitList(f.text, { file: f.name }), sha256: f.sha256 };
}

/** Options of {@linkcode officialSplit}. */
export interface OfficialSplitOptions extends SplitOptions {
  /** Share of the train_val patients moved to val (`int(n * valFraction)` patients). @default 0.1 */
  valFraction?: number | undefined;
}

/**
 * NIH's official split: `test_list.txt` is test; the train_val patients (ascending) are shuffled with CPython's
 * `random.seed(seed)` and the first `int(n * valFraction)` become val. Names in the lists missing from the
 * entries, and entries in neither list, are reported as warnings and left out.
 *
 * @throws {SplitError} If a name is in both lists or a patient has images in both.
 * @throws {RangeError} If `valFraction` is not in [0, 1).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const names = ["00000001_000.png", "00000002_000.png", "00000002_001.png", "00000003_000.png"];
 * const table = { file: "e.csv", variant: "v2020" as const, sha256: "", entries: names.map((image) => ({ image, patientId: Number(image.slice(0, 8)) })) as never };
 * const trainVal = parseSplitList(names.slice(0, 3).join("\n"), { file: "train_val_list.txt" });
 * const test = parseSplitList(names.slice(3).join("\n"), { file: "test_list.txt" });
 * const { split } = officialSplit(table, trainVal, test, { valFraction: 0.5 });
 * assert.deepEqual(split.patients, { train: 1, val: 1, test: 1 });
 * assert.throws(() => officialSplit(table, trainVal, parseSplitList("00000002_001.png")), /both/);
 * ```
 */
export function officialSplit(
  entries: EntryTable,
  trainVal: SplitList,
  test: SplitList,
  options: OfficialSplitOptions = {},
): SplitResult {
  const seed = options.seed ?? 0;
  checkSeed(seed);
  const valFraction = options.valFraction ?? 0.1;
  if (!(valFraction >= 0 && valFraction < 1)) {
    throw new RangeError(`valFraction must be in [0, 1), got ${valFraction}`);
  }
  const testNames = new Set(test.images);
  const lists = `"${trainVal.file}" and "${test.file}"`;
  const both = trainVal.images.filter((n) => testNames.has(n));
  if (both.length > 0) throw new SplitError(`${both.length} names are in both ${lists}: ${preview(both)}`);
  const testPatients = new Set(test.images.map(patientOf));
  const crossing = [...new Set(trainVal.images.map(patientOf).filter((p) => testPatients.has(p)))].map(
    String,
  );
  if (crossing.length > 0) {
    throw new SplitError(`${crossing.length} patients have images in both ${lists}: ${preview(crossing)}`);
  }
  const warnings: string[] = [];
  const known = new Set(entries.entries.map((e) => e.image));
  for (const list of [trainVal, test]) {
    const missing = list.images.filter((n) => !known.has(n));
    if (missing.length > 0) {
      warnings.push(
        `${missing.length} names of "${list.file}" are not in "${entries.file}": ${preview(missing)}`,
      );
    }
  }
  const listed = new Set([...trainVal.images, ...testNames]);
  const unlisted = entries.entries.filter((e) => !listed.has(e.image)).map((e) => e.image);
  if (unlisted.length > 0) {
    warnings.push(
      `${unlisted.length} images of "${entries.file}" are in neither list, left out: ${preview(unlisted)}`,
    );
  }

  const patients = [...new Set(trainVal.images.filter((n) => known.has(n)).map(patientOf))];
  patients.sort((a, b) => a - b);
  new MersenneTwister(seed).shuffle(patients);
  const val = new Set(patients.slice(0, Math.floor(patients.length * valFraction)));
  const inputs: Split["inputs"] = { entries: input(entries), trainVal: input(trainVal), test: input(test) };
  const trainValNames = new Set(trainVal.images);
  const images: Record<Partition, string[]> = { train: [], val: [], test: [] };
  for (const e of blacklisted(entries.entries, options.blacklist, inputs, warnings)) {
    if (testNames.has(e.image)) images.test.push(e.image);
    else if (trainValNames.has(e.image)) images[val.has(e.patientId) ? "val" : "train"].push(e.image);
  }
  return { split: finish("official", seed, inputs, images, valFraction), warnings };
}
