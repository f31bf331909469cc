/**
 * Splits of only the images a user has (`data split --present DIR`): one archive (`data fetch --only 1`, 4,999
 * images) or any other subset. The full split is drawn first, by the usual patient rules, and then restricted:
 * every image found in the folder keeps the partition its patient has in the full split, every other image is
 * left out. So the result is a subset of the full split of the same seed (no patient in two partitions, and none
 * moves when more archives arrive), reproducible for the same files, and it records where it came from.
 *
 * @module
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { IMAGE_NAME, patientCounts, preview } from "./_format.ts";
import {
  type Partition,
  PARTITIONS,
  type Split,
  splitDigest,
  SplitError,
  type SplitResult,
} from "./split_file.ts";

/** The image files found in a folder. */
export interface PresentImages {
  /** The folder they are in: the `images/` folder of a data folder, or the folder given. */
  dir: string;
  /** Their names (`NNNNNNNN_NNN.png`), ascending. */
  names: string[];
}

/**
 * Lists the NIH image files in a folder: files (or links to files) named like `00000001_000.png`. Given a data
 * folder in the NIH layout (one with an `images/` folder), looks in `images/`.
 *
 * @param dir The data folder or the images folder.
 * @returns The folder looked in and the names found there.
 * @throws {Deno.errors.NotFound} If `dir` is not a folder.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${dir}/images`);
 * for (const f of ["00000002_000.png", "00000001_000.png", "notes.txt"]) Deno.writeTextFileSync(`${dir}/images/${f}`, "");
 * assert.deepEqual(findPresentImages(dir), { dir: `${dir}/images`, names: ["00000001_000.png", "00000002_000.png"] });
 * assert.throws(() => findPresentImages(`${dir}/none`), /Cannot look for images in ".*none": no such folder/);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function findPresentImages(dir: string): PresentImages {
  const isDir = (p: string) => statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
  if (!isDir(dir)) throw new Deno.errors.NotFound(`Cannot look for images in "${dir}": no such folder`);
  const where = isDir(join(dir, "images")) ? join(dir, "images") : dir;
  const isFile = (name: string) => statSync(join(where, name), { throwIfNoEntry: false })?.isFile() ?? false;
  const names = readdirSync(where, { withFileTypes: true })
    .filter((e) => IMAGE_NAME.test(e.name) && (e.isFile() || (e.isSymbolicLink() && isFile(e.name))))
    .map((e) => e.name)
    .sort();
  return { dir: where, names };
}

/**
 * Restricts a split to the images present: each present image of `split` stays in its partition, the others
 * are left out; patient counts and digest are recomputed and `present` records the folder, the counts and the
 * digest of the full split. Restricting a restricted split keeps the first full digest and adds up `absent`.
 *
 * @param split The full split (from {@linkcode seedSplit} or {@linkcode officialSplit}).
 * @param present The images found, e.g. by {@linkcode findPresentImages}.
 * @returns The restricted split, with warnings for image files the split does not have and partitions left
 *   empty.
 * @throws {SplitError} If no image of the split is present.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitDigest } from "./split_file.ts";
 * const images = { train: ["00000001_000.png", "00000001_001.png"], val: ["00000002_000.png"], test: ["00000003_000.png"] };
 * const full = { format: "cxr-split/1" as const, method: "seed" as const, seed: 0, inputs: {}, digest: splitDigest(images),
 *   patients: { train: 1, val: 1, test: 1 }, images };
 * const { split, warnings } = restrictToPresent(full, { dir: "data/images", names: ["00000001_001.png", "00000003_000.png"] });
 * assert.deepEqual(split.images, { train: ["00000001_001.png"], val: [], test: ["00000003_000.png"] });
 * assert.deepEqual(split.present, { dir: "data/images", images: 2, absent: 2, notInSplit: 0, fullDigest: full.digest });
 * assert.match(warnings[0]!, /no image of val is present/);
 * assert.throws(() => restrictToPresent(full, { dir: "x", names: [] }), /None of the 4 images of the split is in "x"/);
 * ```
 */
export function restrictToPresent(split: Split, present: PresentImages): SplitResult {
  const have = new Set(present.names);
  const images = {} as Record<Partition, string[]>;
  for (const p of PARTITIONS) images[p] = split.images[p].filter((n) => have.has(n));
  const total = PARTITIONS.reduce((n, p) => n + split.images[p].length, 0);
  const kept = PARTITIONS.reduce((n, p) => n + images[p].length, 0);
  if (kept === 0) {
    throw new SplitError(
      `None of the ${total} images of the split is in "${present.dir}" (${present.names.length} image files ` +
        `there); fetch some with data fetch --only, or give the folder that holds them`,
    );
  }
  const inSplit = new Set(PARTITIONS.flatMap((p) => split.images[p]));
  const notInSplit = present.names.filter((n) => !inSplit.has(n));
  const warnings: string[] = [];
  if (notInSplit.length > 0) {
    warnings.push(
      `${notInSplit.length} image files in "${present.dir}" are not in the split (not in the label file, ` +
        `blacklisted or in neither list), left out: ${preview(notInSplit)}`,
    );
  }
  for (const p of PARTITIONS) {
    if (images[p].length === 0 && split.images[p].length > 0) {
      warnings.push(
        `no image of ${p} is present: ${p} is empty (${split.images[p].length} in the full split)`,
      );
    }
  }
  const { digest: _, patients: __, images: ___, present: prior, ...head } = split;
  return {
    split: {
      ...head,
      present: {
        dir: present.dir,
        images: kept,
        absent: total - kept + (prior?.absent ?? 0),
        notInSplit: notInSplit.length,
        fullDigest: prior?.fullDigest ?? split.digest,
      },
      digest: splitDigest(images),
      patients: patientCounts(images),
      images,
    },
    warnings,
  };
}
