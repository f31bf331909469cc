/**
 * Patient-wise train/val/test splits, and the split file (`cxr-split/1`) that makes a run reproducible.
 *
 * Two methods: `seed` reproduces the seed project's split exactly (patients without bounding boxes shuffled
 * with CPython's `random.seed(0)`, 70 % train, 10 % val, the rest and every boxed patient test); `official`
 * takes NIH's `train_val_list.txt` / `test_list.txt` and carves a validation part out of train_val by patient.
 *
 * @module
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import {
  IMAGE_NAME,
  lineColumn,
  NihFormatError,
  readInputFile,
  sha256Hex,
  type SplitFileJson,
} from "./_format.ts";
import { type BoundingBoxTable, boxedPatients } from "./bbox.ts";
import { applyBlacklist, type Blacklist } from "./blacklist.ts";
import type { Entry, EntryTable } from "./entries.ts";
import { MersenneTwister } from "./mt19937.ts";

/** The three partitions, in file order. */
export const PARTITIONS = ["train", "val", "test"] as const;
/** A partition. */
export type Partition = typeof PARTITIONS[number];
/** How a split was drawn. */
export const SPLIT_METHODS = ["seed", "official"] as const;
/** A split method. */
export type SplitMethod = typeof SPLIT_METHODS[number];
/** The `format` of split files this code writes and reads. */
export const SPLIT_FORMAT = "cxr-split/1";

/**
 * A split: image names per partition, plus what it was drawn from. Serialised as-is (see
 * {@linkcode writeSplit}); `images` are sorted ascending in each partition.
 */
export type Split = SplitFileJson;

/** A split and the remarks worth showing (blacklisted names not in the entries, list names missing, ...). */
export interface SplitResult {
  /** The split. */
  split: Split;
  /** Human-readable warnings; never fatal. */
  warnings: string[];
}

/** A domain failure while drawing a split: a patient in two partitions, images the split does not know. */
export class SplitError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SplitError";
  }
}

/** A split file that does not parse or whose contents are inconsistent; `path` names the JSON field. */
export class SplitFormatError extends NihFormatError {
  /** The JSON field, e.g. `images.val[3]`. */
  path: string;
  constructor(
    reason: string,
    where: { file: string; line: number; column: number; path: string },
    options?: ErrorOptions,
  ) {
    super(reason, where, options);
    this.name = "SplitFormatError";
    this.path = where.path;
  }
}

/** Options shared by both methods. */
export interface SplitOptions {
  /** Seed of CPython's `random.seed`. @default 0 */
  seed?: number;
  /** Images to leave out. */
  blacklist?: Blacklist;
}

/**
 * The sha256 over the partitions: for each partition in order, each name as `partition<TAB>name<LF>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const d = splitDigest({ train: ["00000001_000.png"], val: [], test: [] });
 * assert.match(d, /^[0-9a-f]{64}$/);
 * assert.notEqual(d, splitDigest({ train: [], val: ["00000001_000.png"], test: [] }));
 * ```
 */
export function splitDigest(images: Record<Partition, readonly string[]>): string {
  const parts: string[] = [];
  for (const p of PARTITIONS) for (const name of images[p]) parts.push(`${p}\t${name}\n`);
  return sha256Hex(parts.join(""));
}

function patientOf(name: string): number {
  return Number(name.slice(0, 8));
}

function countPatients(names: readonly string[]): number {
  return new Set(names.map(patientOf)).size;
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
    patients: {
      train: countPatients(images.train),
      val: countPatients(images.val),
      test: countPatients(images.test),
    },
    images,
  };
}

function input(t: { file: string; sha256: string }) {
  return { file: t.file, sha256: t.sha256 };
}

function checkSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new TypeError(`seed must be a safe integer, got ${seed}`);
}

function preview(names: readonly string[], n = 5): string {
  return names.slice(0, n).join(", ") + (names.length > n ? `, ... (${names.length} in all)` : "");
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
  if (r.unknown.length > 0) {
    warnings.push(
      `${r.unknown.length} blacklisted names of "${blacklist.file}" are not in the entries: ${
        preview(r.unknown)
      }`,
    );
  }
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
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const seen = new Map<string, number>();
  lines.forEach((raw, i) => {
    const name = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const where = { file, line: i + 1, column: 1 };
    if (!IMAGE_NAME.test(name)) {
      throw new NihFormatError(`expected an image name like 00000001_000.png, found "${name}"`, where);
    }
    if (seen.has(name)) {
      throw new NihFormatError(`"${name}" is listed twice (first at line ${seen.get(name)})`, where);
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
  valFraction?: number;
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
 * const test = parseSplitList(names[3], { file: "test_list.txt" });
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
  const both = trainVal.images.filter((n) => testNames.has(n));
  if (both.length > 0) {
    throw new SplitError(
      `${both.length} names are in both "${trainVal.file}" and "${test.file}": ${preview(both)}`,
    );
  }
  const testPatients = new Set(test.images.map(patientOf));
  const crossing = [...new Set(trainVal.images.map(patientOf).filter((p) => testPatients.has(p)))];
  if (crossing.length > 0) {
    throw new SplitError(
      `${crossing.length} patients have images in both "${trainVal.file}" and "${test.file}": ${
        preview(crossing.map(String))
      }`,
    );
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

  const patients = [...new Set(trainVal.images.filter((n) => known.has(n)).map(patientOf))].sort((a, b) =>
    a - b
  );
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

/**
 * Writes a split file atomically: a temporary file beside `path`, then a rename, so a crash never leaves half
 * a file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * const split = { format: "cxr-split/1" as const, method: "seed" as const, seed: 0, inputs: {}, patients: { train: 1, val: 0, test: 0 },
 *   images: { train: ["00000001_000.png"], val: [], test: [] }, digest: splitDigest({ train: ["00000001_000.png"], val: [], test: [] }) };
 * writeSplit(`${dir}/split.json`, split);
 * assert.deepEqual(readSplit(`${dir}/split.json`), split);
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["split.json"]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function writeSplit(path: string, split: Split): void {
  const tmp = join(dirname(path), `.${basename(path)}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  try {
    writeFileSync(tmp, JSON.stringify(split, null, 1) + "\n");
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Reads and validates a split file; see {@linkcode parseSplit}. */
export function readSplit(path: string): Split {
  return parseSplit(readFileSync(path, "utf8"), { file: basename(path) });
}

/**
 * Parses and validates a split file: JSON syntax, the shape of every field, image names, partitions disjoint
 * by image and by patient, patient counts and digest consistent with the names.
 *
 * @param text The file's text.
 * @param options `file`: name for messages (default `"split.json"`).
 * @throws {SplitFormatError} Naming the file, the line and column, and the field.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const images = { train: ["00000001_000.png"], val: ["00000002_000.png"], test: [] };
 * const ok = { format: "cxr-split/1", method: "seed", seed: 0, inputs: {}, digest: splitDigest(images),
 *   patients: { train: 1, val: 1, test: 0 }, images };
 * assert.equal(parseSplit(JSON.stringify(ok)).seed, 0);
 * assert.throws(() => parseSplit("{"), /Cannot read "split.json" at line 1, column 2: not valid JSON/);
 * const crossing = { ...ok, images: { ...images, val: ["00000001_001.png"] } };
 * assert.throws(() => parseSplit(JSON.stringify(crossing)), /patient 1 is in images.train and images.val/);
 * ```
 */
export function parseSplit(text: string, options: { file?: string } = {}): Split {
  const file = options.file ?? "split.json";
  const fail = (path: string, reason: string, needle?: string): never => {
    const at = needle === undefined ? -1 : text.indexOf(needle);
    const { line, column } = lineColumn(text, Math.max(at, 0));
    throw new SplitFormatError(`${path}: ${reason}`, { file, line, column, path });
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec((e as Error).message);
    const { line, column } = lineColumn(text, m ? Number(m[1]) : text.length);
    throw new SplitFormatError(`not valid JSON (${(e as Error).message})`, { file, line, column, path: "" }, {
      cause: e,
    });
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObject(doc)) return fail("(root)", "expected a JSON object");
  const key = (k: string) => `"${k}"`;
  if (doc.format !== SPLIT_FORMAT) {
    fail("format", `expected "${SPLIT_FORMAT}", found ${JSON.stringify(doc.format)}`, key("format"));
  }
  if (!SPLIT_METHODS.includes(doc.method as SplitMethod)) {
    fail(
      "method",
      `expected one of ${SPLIT_METHODS.join(", ")}, found ${JSON.stringify(doc.method)}`,
      key("method"),
    );
  }
  if (!Number.isSafeInteger(doc.seed)) {
    fail("seed", `expected an integer, found ${JSON.stringify(doc.seed)}`, key("seed"));
  }
  if (
    doc.valFraction !== undefined &&
    !(typeof doc.valFraction === "number" && doc.valFraction >= 0 && doc.valFraction < 1)
  ) {
    fail(
      "valFraction",
      `expected a number in [0, 1), found ${JSON.stringify(doc.valFraction)}`,
      key("valFraction"),
    );
  }
  if (!isObject(doc.inputs)) return fail("inputs", "expected an object", key("inputs"));
  for (const [k, v] of Object.entries(doc.inputs)) {
    if (
      !isObject(v) || typeof v.file !== "string" || typeof v.sha256 !== "string" ||
      !/^([0-9a-f]{64})?$/.test(v.sha256)
    ) {
      fail(`inputs.${k}`, 'expected { "file": string, "sha256": 64 hex digits }', key(k));
    }
  }
  if (typeof doc.digest !== "string") fail("digest", "expected a string", key("digest"));
  if (!isObject(doc.patients)) return fail("patients", "expected an object", key("patients"));
  if (!isObject(doc.images)) return fail("images", "expected an object", key("images"));
  const images = doc.images;
  const owner = new Map<string, Partition>();
  const patientOwner = new Map<number, Partition>();
  for (const p of PARTITIONS) {
    if (!Array.isArray(images[p])) fail(`images.${p}`, "expected an array of image names", key("images"));
  }
  for (const p of PARTITIONS) {
    const list = images[p] as unknown[];
    const patients = new Set<number>();
    list.forEach((raw, i) => {
      const path = `images.${p}[${i}]`;
      const name = String(raw);
      if (typeof raw !== "string" || !IMAGE_NAME.test(raw)) {
        fail(
          path,
          `expected an image name like 00000001_000.png, found ${JSON.stringify(raw)}`,
          JSON.stringify(raw),
        );
      }
      const other = owner.get(name);
      if (other !== undefined) {
        fail(
          path,
          `"${name}" is in images.${other} and images.${p}; partitions must be disjoint`,
          JSON.stringify(name),
        );
      }
      owner.set(name, p);
      const patient = patientOf(name);
      const otherPatient = patientOwner.get(patient);
      if (otherPatient !== undefined && otherPatient !== p) {
        fail(
          path,
          `patient ${patient} is in images.${otherPatient} and images.${p}; a patient must stay in one partition`,
          JSON.stringify(name),
        );
      }
      patientOwner.set(patient, p);
      patients.add(patient);
    });
    if (doc.patients[p] !== patients.size) {
      fail(
        `patients.${p}`,
        `expected ${patients.size} (the patients of images.${p}), found ${JSON.stringify(doc.patients[p])}`,
        key("patients"),
      );
    }
  }
  const split = doc as unknown as Split;
  const digest = splitDigest(split.images);
  if (split.digest !== digest) {
    fail("digest", `does not match the images (expected ${digest}); the file was edited`, key("digest"));
  }
  return split;
}
