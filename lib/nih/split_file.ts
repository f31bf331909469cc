/**
 * The split file, `cxr-split/1`: image names per partition plus the seed, method, inputs and a digest, so a
 * run is reproducible and training and evaluation can prove which images they used. Written atomically,
 * validated field by field on read.
 *
 * @module
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { IMAGE_NAME, patientOf, sha256Hex, type SplitFileJson } from "./_format.ts";
import { NihError, NihFormatError } from "./errors.ts";
import { jsonErrorPosition, lineColumn } from "../json_position.ts";

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
 * How a split was restricted to the images present in a folder (`data split --present DIR`): every image of the
 * full split found there kept its partition, the rest were left out. Absent from unrestricted splits.
 */
export interface SplitPresence {
  /** The folder the images were looked for in, as given (the `images/` folder of a data folder). */
  dir: string;
  /** Images of the full split found there: the images of this split. */
  images: number;
  /** Images of the full split not found there, left out. */
  absent: number;
  /** Image files there that the full split does not have (not in the label file, blacklisted, unlisted). */
  notInSplit: number;
  /** The digest of the full split this one is a subset of. */
  fullDigest: string;
}

/**
 * A split: image names per partition, plus what it was drawn from. Serialised as-is (see
 * {@linkcode writeSplit}); `images` are sorted ascending in each partition. `present` is set when the split
 * was restricted to the images present in a folder.
 */
export type Split = SplitFileJson & { present?: SplitPresence };

/** A split and the remarks worth showing (blacklisted names not in the entries, list names missing, ...). */
export interface SplitResult {
  split: Split;
  /** Human-readable warnings; never fatal. */
  warnings: string[];
}

/**
 * A domain failure while drawing a split: a patient in two partitions, images the split does not know, no
 * image of the split present.
 */
export class SplitError extends NihError {}

/** A split file that does not parse or whose contents are inconsistent; `path` names the JSON field. */
export class SplitFormatError extends NihFormatError {
  /**
   * @param reason What was wrong, without the place.
   * @param line 1-based line.
   * @param column 1-based column.
   * @param path The JSON field, e.g. `images.val[3]` (`""` when the text is not JSON).
   */
  constructor(
    reason: string,
    file: string,
    line: number,
    column: number,
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(reason, file, line, column, options);
  }
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
  // Points at the field's key unless told what to look for.
  const fail = (path: string, reason: string, needle = `"${path}"`): never => {
    const at = text.indexOf(needle);
    const { line, column } = lineColumn(text, Math.max(at, 0));
    throw new SplitFormatError(`${path}: ${reason}`, file, line, column, path);
  };
  const expect = (ok: boolean, path: string, what: string, found: unknown, needle?: string) =>
    ok || fail(path, `expected ${what}, found ${JSON.stringify(found)}`, needle);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const { line, column } = jsonErrorPosition(text);
    const reason = `not valid JSON (${(e as Error).message})`;
    throw new SplitFormatError(reason, file, line, column, "", { cause: e });
  }
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  if (!isObject(doc)) return fail("(root)", "expected a JSON object", "");
  const key = (k: string) => `"${k}"`;
  const methods = SPLIT_METHODS.join(", ");
  expect(doc.format === SPLIT_FORMAT, "format", `"${SPLIT_FORMAT}"`, doc.format);
  expect(SPLIT_METHODS.includes(doc.method as SplitMethod), "method", `one of ${methods}`, doc.method);
  expect(Number.isSafeInteger(doc.seed), "seed", "an integer", doc.seed);
  const vf = doc.valFraction;
  const vfOk = vf === undefined || (typeof vf === "number" && vf >= 0 && vf < 1);
  expect(vfOk, "valFraction", "a number in [0, 1)", vf);
  if (!isObject(doc.inputs)) return fail("inputs", "expected an object");
  for (const [k, v] of Object.entries(doc.inputs)) {
    if (
      !isObject(v) || typeof v.file !== "string" || typeof v.sha256 !== "string" ||
      !/^([0-9a-f]{64})?$/.test(v.sha256)
    ) {
      fail(`inputs.${k}`, 'expected { "file": string, "sha256": 64 hex digits }', key(k));
    }
  }
  if (typeof doc.digest !== "string") fail("digest", "expected a string");
  if (doc.present !== undefined) {
    const r = doc.present, at = key("present");
    if (!isObject(r)) return fail("present", "expected an object", at);
    expect(typeof r.dir === "string", "present.dir", "a string", r.dir, at);
    for (const k of ["images", "absent", "notInSplit"]) {
      const n = r[k];
      expect(Number.isSafeInteger(n) && (n as number) >= 0, `present.${k}`, "an integer >= 0", n, at);
    }
    const digestOk = typeof r.fullDigest === "string" && /^[0-9a-f]{64}$/.test(r.fullDigest);
    expect(digestOk, "present.fullDigest", "64 hex digits", r.fullDigest, at);
  }
  if (!isObject(doc.patients)) return fail("patients", "expected an object");
  if (!isObject(doc.images)) return fail("images", "expected an object");
  const images = doc.images;
  const owner = new Map<string, Partition>();
  const patientOwner = new Map<number, Partition>();
  for (const p of PARTITIONS) {
    if (!Array.isArray(images[p])) fail(`images.${p}`, "expected an array of image names", key("images"));
  }
  for (const p of PARTITIONS) {
    const patients = new Set<number>();
    (images[p] as unknown[]).forEach((raw, i) => {
      const path = `images.${p}[${i}]`;
      const name = String(raw);
      const at = JSON.stringify(raw);
      const isName = typeof raw === "string" && IMAGE_NAME.test(raw);
      expect(isName, path, "an image name like 00000001_000.png", raw, at);
      const other = owner.get(name);
      if (other !== undefined) {
        fail(path, `"${name}" is in images.${other} and images.${p}; partitions must be disjoint`, at);
      }
      owner.set(name, p);
      const patient = patientOf(name);
      const otherPatient = patientOwner.get(patient) ?? p;
      if (otherPatient !== p) {
        const both = `images.${otherPatient} and images.${p}`;
        fail(path, `patient ${patient} is in ${both}; a patient must stay in one partition`, at);
      }
      patientOwner.set(patient, p);
      patients.add(patient);
    });
    const counted = `${patients.size} (the patients of images.${p})`;
    expect(doc.patients[p] === patients.size, `patients.${p}`, counted, doc.patients[p], key("patients"));
  }
  const split = doc as unknown as Split;
  const total = PARTITIONS.reduce((n, p) => n + split.images[p].length, 0);
  if (split.present) {
    const { images } = split.present;
    expect(images === total, "present.images", `${total} (the images of the split)`, images, key("present"));
  }
  const digest = splitDigest(split.images);
  if (split.digest !== digest) {
    fail("digest", `does not match the images (expected ${digest}); the file was edited`);
  }
  return split;
}
