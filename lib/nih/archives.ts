/**
 * The catalogue of NIH ChestX-ray14 downloads: the 12 image archives and the label files, with where each
 * fact comes from.
 *
 * Sources (each value below says which one it comes from):
 * - URLs of the archives: NIH's own `batch_download_zips.py` from the dataset's Box folder
 *   (https://nihcc.app.box.com/v/ChestXray-NIHCC/file/371647823217), copied verbatim by many public
 *   repositories, e.g. apache/incubator-teaclave `examples/tvm/CheXNet-Keras/data/download.py` and
 *   arshmodak/NIH_Chest_XRays_Disease_Detection `batch_download_zips.py`.
 * - md5 of the archives: NIH's `FAQ_CHESTXRAY.pdf`, question Q07 "Do you have MD5s for the compressed
 *   files?" (https://nihcc.app.box.com/v/ChestXray-NIHCC/file/249502714403), the same list is used by
 *   pyhealth's and other public ChestX-ray14 loaders.
 * - Byte sizes of the archives: the `Content-Range` totals recorded by a public dataset recipe that pins
 *   them next to the Box static-link hashes and the FAQ md5s (file "Pinned constants for the NIH
 *   ChestX-ray14 8-bit radiograph recipe", dated 2026-10-08). Cross-check: they add up to exactly
 *   45,079,862,784 bytes, the total stated for the 12 archives.
 * - Label file URLs: Box's shared-file download endpoint with the file ids of the NIH folder, as used by a
 *   public download script. No size or md5 for them was found in a source, so the size is checked against
 *   `Content-Length` instead. No URL was found for `BBox_List_2017.csv`, so it is not in the catalogue.
 *
 * @module
 */
import { CxrSyntaxError } from "../errors.ts";

/** One file downloaded as is: a label file or split list. */
export interface DataFileEntry {
  /** File name in the destination folder, e.g. `test_list.txt` or `images_001.tar.gz`. */
  name: string;
  /** Where to download it from. */
  url: string;
  /** Size in bytes, when known from a source (else checked against `Content-Length`). */
  bytes?: number;
  /** md5 as 32 lower-case hex digits, when known from a source. */
  md5?: string;
}

/** One `images_NNN.tar.gz` archive. */
export interface ArchiveEntry extends DataFileEntry {
  /** 1-based archive number (1..12 for NIH). */
  number: number;
  /** Number of `images/*.png` members, when known. */
  images?: number;
}

/** What to download: image archives and plain files. */
export interface Catalogue {
  /** Image archives, by number. */
  archives: ArchiveEntry[];
  /** Label files and split lists. */
  files: DataFileEntry[];
}

/** Total size of the 12 NIH archives in bytes (stated for the dataset; the catalogue sizes add up to it). */
export const NIH_TOTAL_BYTES = 45_079_862_784;

const BOX_STATIC = "https://nihcc.box.com/shared/static/";
const BOX_FILE =
  "https://nihcc.app.box.com/index.php?rm=box_download_shared_file&vanity_name=ChestXray-NIHCC" +
  "&file_id=f_";

// [static-link hash (batch_download_zips.py), bytes (Content-Range totals), md5 (FAQ Q07), images]
const ARCHIVE_FACTS: [string, number, string, number][] = [
  ["vfk49d74nhbxq3nqjg0900w5nvkorp5c", 2_008_470_987, "fe8ed0a6961412fddcbb3603c11b3698", 4_999],
  ["i28rlmbvmfjbl8p2n3ril0pptcmcu9d1", 3_952_623_504, "ab07a2d7cbe6f65ddd97b4ed7bde10bf", 10_000],
  ["f1t00wrtdk94satdfb9olcolqx20z2jp", 3_929_234_850, "2301d03bde4c246388bad3876965d574", 10_000],
  ["0aowwzs5lhjrceb3qp67ahp0rd1l1etg", 3_838_903_983, "9f1b7f5aae01b13f4bc8e2c44a4b8ef6", 10_000],
  ["v5e3goj22zr6h8tzualxfsqlqaygfbsn", 3_935_496_531, "1861f3cd0ef7734df8104f2b0309023b", 10_000],
  ["asi7ikud9jwnkrnkj99jnpfkjdes7l6l", 3_986_301_172, "456b53a8b351afd92a35bc41444c58c8", 10_000],
  ["jn1b4mw4n6lnh74ovmcjb8y48h8xj07n", 4_016_328_426, "1075121ea20a137b87f290d6a4a5965e", 10_000],
  ["tvpxmn7qyrgl0w8wfh9kqfjskv6nmm1j", 4_018_347_353, "b61f34cec3aa69f295fbb593cbd9d443", 10_000],
  ["upyy3ml7qdumlgk2rfcvlb9k6gvqq2pj", 4_111_327_929, "442a3caa61ae9b64e61c561294d1e183", 10_000],
  ["l6nilvfa9cg3s28tqv1qc1olm3gnz54p", 4_181_556_296, "09ec81c4c31e32858ad8cf965c494b74", 10_000],
  ["hhq8fkdgvcari67vfhs7ppg2w6ni4jze", 4_187_084_020, "499aefc67207a5a97692424cf5dbeed5", 10_000],
  ["ioqwiy20ihqwyr8pf4c24eazhh281pbu", 2_914_187_733, "dc9fda1757c2de0032b63347a7d2895c", 7_121],
];

/**
 * The real NIH catalogue: the 12 image archives, and the label files whose download URLs were found (their
 * sizes and md5 unknown: see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const { archives } = NIH_CATALOGUE;
 * assert.deepEqual([archives.length, archives[11]?.name], [12, "images_012.tar.gz"]);
 * assert.equal(archives.reduce((s, a) => s + a.bytes!, 0), NIH_TOTAL_BYTES);
 * assert.equal(archives.reduce((s, a) => s + a.images!, 0), 112_120);
 * ```
 */
export const NIH_CATALOGUE: Catalogue = {
  archives: ARCHIVE_FACTS.map(([hash, bytes, md5, images], i) => ({
    number: i + 1,
    name: `images_${String(i + 1).padStart(3, "0")}.tar.gz`,
    url: `${BOX_STATIC}${hash}.gz`,
    bytes,
    md5,
    images,
  })),
  files: [
    { name: "Data_Entry_2017_v2020.csv", url: `${BOX_FILE}219760887468` },
    { name: "train_val_list.txt", url: `${BOX_FILE}256056636701` },
    { name: "test_list.txt", url: `${BOX_FILE}256055473534` },
  ],
};

/**
 * A catalogue file that cannot be used; `file` names it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new CatalogueSyntaxError("archives[0].number must be an integer", "c.json");
 * assert.ok(e instanceof SyntaxError);
 * assert.equal(e.message, 'Cannot read catalogue "c.json": archives[0].number must be an integer');
 * ```
 */
export class CatalogueSyntaxError extends CxrSyntaxError {
  /**
   * @param line 1-based line of the problem, when known.
   * @param column 1-based column of the problem, when known.
   */
  constructor(detail: string, file: string, line?: number, column?: number, options?: ErrorOptions) {
    const at = line !== undefined ? ` at line ${line}, column ${column ?? 1}` : "";
    super(`Cannot read catalogue "${file}"${at}: ${detail}`, file, line, column, options);
  }
}

/**
 * Parses a catalogue from JSON text (`{"archives":[{number,name,url,bytes?,md5?,images?}], "files":[...]}`).
 *
 * @param text The JSON text.
 * @param file The file name, for error messages.
 * @throws {CatalogueSyntaxError} when the text is not JSON or an entry is malformed.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const c = parseCatalogue('{"archives":[{"number":1,"name":"images_001.tar.gz","url":"http://x/a"}]}', "c.json");
 * assert.equal(c.archives[0]?.name, "images_001.tar.gz");
 * assert.deepEqual(c.files, []);
 * assert.throws(() => parseCatalogue('{"archives":[{"number":0}]}', "c.json"), /archives\[0\]\.number/);
 * ```
 */
export function parseCatalogue(text: string, file: string): Catalogue {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const m = /line (\d+) column (\d+)/.exec(String((e as Error).message));
    const [line, column] = m ? [Number(m[1]), Number(m[2])] : [];
    throw new CatalogueSyntaxError(`not valid JSON (${(e as Error).message})`, file, line, column, {
      cause: e,
    });
  }
  const obj = raw as { archives?: unknown; files?: unknown };
  if (typeof raw !== "object" || raw === null || !Array.isArray(obj.archives)) {
    throw new CatalogueSyntaxError(`expected an object with an "archives" array`, file);
  }
  const fail = (path: string, what: string): never => {
    throw new CatalogueSyntaxError(`${path} must be ${what}`, file);
  };
  const entry = (e: unknown, path: string): DataFileEntry => {
    if (typeof e !== "object" || e === null) fail(path, "an object");
    const r = e as Record<string, unknown>;
    if (typeof r.name !== "string" || !/^[\w.-]+$/.test(r.name)) fail(`${path}.name`, "a plain file name");
    if (typeof r.url !== "string" || !URL.canParse(r.url)) fail(`${path}.url`, "a URL");
    if (r.bytes !== undefined && !(Number.isSafeInteger(r.bytes) && (r.bytes as number) >= 0)) {
      fail(`${path}.bytes`, "a non-negative integer");
    }
    if (r.md5 !== undefined && !(typeof r.md5 === "string" && /^[0-9a-f]{32}$/.test(r.md5))) {
      fail(`${path}.md5`, "32 lower-case hex digits");
    }
    return {
      name: r.name as string,
      url: r.url as string,
      ...(r.bytes !== undefined ? { bytes: r.bytes as number } : {}),
      ...(r.md5 !== undefined ? { md5: r.md5 as string } : {}),
    };
  };
  const archives = obj.archives.map((e, i): ArchiveEntry => {
    const path = `archives[${i}]`;
    const n = (e as Record<string, unknown>)?.number;
    if (!Number.isSafeInteger(n) || (n as number) < 1) fail(`${path}.number`, "an integer >= 1");
    const images = (e as Record<string, unknown>).images;
    if (images !== undefined && !Number.isSafeInteger(images)) fail(`${path}.images`, "an integer");
    return {
      number: n as number,
      ...entry(e, path),
      ...(images !== undefined ? { images: images as number } : {}),
    };
  });
  const files = obj.files === undefined
    ? []
    : Array.isArray(obj.files)
    ? obj.files.map((e, i) => entry(e, `files[${i}]`))
    : fail("files", "an array");
  return { archives, files };
}

/**
 * Parses an archive selection such as `"1,3"` or `"1-4,12"` against the valid numbers.
 *
 * @param text The selection.
 * @param valid The archive numbers that exist (for NIH 1..12).
 * @returns The numbers, ascending, without duplicates.
 * @throws {RangeError} naming the bad value and the valid range.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const all = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
 * assert.deepEqual(parseArchiveSelection("3,1-2,3", all), [1, 2, 3]);
 * assert.throws(() => parseArchiveSelection("13", all), /valid archive numbers: 1\.\.12/);
 * assert.throws(() => parseArchiveSelection("x", all), /"x"/);
 * ```
 */
export function parseArchiveSelection(text: string, valid: readonly number[]): number[] {
  const set = new Set(valid);
  const sorted = [...set].sort((a, b) => a - b);
  const contiguous = (sorted.at(-1) ?? 0) - (sorted[0] ?? 0) + 1 === sorted.length; // distinct and sorted
  const range = sorted.length === 0
    ? "none"
    : contiguous
    ? `${sorted[0]}..${sorted.at(-1)}`
    : sorted.join(", ");
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo > hi) {
      throw new RangeError(`Cannot select archives "${part.trim()}": valid archive numbers: ${range}`);
    }
    for (let n = lo; n <= hi; n++) {
      if (!set.has(n)) {
        const message = `Cannot select archive ${n} ("${part.trim()}"): valid archive numbers: ${range}`;
        throw new RangeError(message);
      }
      out.add(n);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The first image name of each of the 12 NIH archives, in archive order. The archives hold contiguous ranges of
 * the image names in ascending order, as many as the catalogue's `images` (4,999, then 10,000 each,
 * then 7,121): so archive k begins at the name at that running count in the sorted v2020 label file
 * (`archives_test.ts` re-derives all twelve from the real file). Archive 1 is `00000001_000.png` ..
 * `00001335_006.png`, archive 2 begins at `00001336_000.png`, the last name of archive 12 is
 * {@linkcode NIH_LAST_IMAGE}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(NIH_ARCHIVE_FIRST_IMAGES.length, 12);
 * assert.equal(NIH_ARCHIVE_FIRST_IMAGES[1], "00001336_000.png");
 * ```
 */
export const NIH_ARCHIVE_FIRST_IMAGES: readonly string[] = [
  "00000001_000.png",
  "00001336_000.png",
  "00003923_014.png",
  "00006585_007.png",
  "00009232_004.png",
  "00011558_008.png",
  "00013774_026.png",
  "00016051_010.png",
  "00018387_035.png",
  "00020945_050.png",
  "00024718_000.png",
  "00028173_003.png",
];

/** The last image name of the last NIH archive (`images_012.tar.gz`); names sort as plain strings. */
export const NIH_LAST_IMAGE = "00030805_000.png";

/**
 * The number (1..12) of the NIH archive whose name range holds an image name, or `undefined` for a name
 * outside all of them (before `00000001_000.png` or after {@linkcode NIH_LAST_IMAGE}). Only the name is looked
 * at: a name inside a range that NIH never published still maps to the archive that would hold it.
 *
 * @param name An image name such as `00001336_000.png`.
 * @returns The archive number, or `undefined`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(nihArchiveOf("00001335_006.png"), 1);
 * assert.equal(nihArchiveOf("00001336_000.png"), 2);
 * assert.equal(nihArchiveOf("00030805_000.png"), 12);
 * assert.equal(nihArchiveOf("00030806_000.png"), undefined);
 * ```
 */
export function nihArchiveOf(name: string): number | undefined {
  const i = NIH_ARCHIVE_FIRST_IMAGES.findLastIndex((first) => first <= name);
  return i < 0 || name > NIH_LAST_IMAGE ? undefined : i + 1;
}

function runsOf(numbers: readonly number[]): [number, number][] {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const n of sorted) {
    const last = runs.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else runs.push([n, n]);
  }
  return runs;
}

/**
 * Archive numbers as an `--only` selection for `data fetch`, the inverse of {@linkcode parseArchiveSelection}:
 * ascending, runs of three or more joined as `a-b`.
 *
 * @param numbers Archive numbers, in any order, duplicates allowed.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(formatArchiveSelection([12, 1, 2, 3, 4, 7, 8]), "1-4,7,8,12");
 * assert.equal(formatArchiveSelection([]), "");
 * ```
 */
export function formatArchiveSelection(numbers: readonly number[]): string {
  const run = ([a, b]: [number, number]) => a === b ? `${a}` : b === a + 1 ? `${a},${b}` : `${a}-${b}`;
  return runsOf(numbers).map(run).join(",");
}

/**
 * Archive numbers as archive names for a message: `images_001..012`, `images_002, images_005..007`.
 *
 * @param numbers Archive numbers, in any order, duplicates allowed.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(formatArchiveNames([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), "images_001..012");
 * assert.equal(formatArchiveNames([7, 2, 5, 6]), "images_002, images_005..007");
 * ```
 */
export function formatArchiveNames(numbers: readonly number[]): string {
  const pad = (n: number) => String(n).padStart(3, "0");
  return runsOf(numbers).map(([a, b]) => a === b ? `images_${pad(a)}` : `images_${pad(a)}..${pad(b)}`)
    .join(", ");
}
