/**
 * The data set as a notebook or script meets it: {@linkcode ensureDataset} makes sure a folder in the NIH
 * layout is there (synthesised, fetched, or already present), {@linkcode listDataset} says what it holds,
 * and {@linkcode prepareSplit} draws the patient-wise split and writes the split file. Their summaries render
 * as tables in Jupyter.
 *
 * @module
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { escapeHtml, htmlTable, JUPYTER_DISPLAY } from "../display.ts";
import { formatAmount, Progress } from "../progress.ts";
import { readBoundingBoxes } from "./bbox.ts";
import { NihError } from "./errors.ts";
import { readBlacklist } from "./blacklist.ts";
import { type EntryTable, readEntries } from "./entries.ts";
import { fetchArchives, type FetchOptions, type FetchSummary } from "./fetch.ts";
import { officialSplit, readSplitList, seedSplit } from "./split.ts";
import {
  type Partition,
  PARTITIONS,
  type Split,
  SPLIT_METHODS,
  type SplitMethod,
  type SplitResult,
  writeSplit,
} from "./split_file.ts";
import { synthesize, type SynthSummary } from "./synth.ts";

/** Top-level files of the NIH layout that describe the images: labels, boxes, official lists, split files. */
export const LABEL_FILE: RegExp =
  /^(Data_Entry.*\.csv|BBox_List.*\.csv|[^/]*_list\.txt|[^/]*split[^/]*\.json)(\.gz)?$/i;

/** What a data folder holds. */
export interface DatasetListing {
  dir: string;
  /** Label files at the top ({@linkcode LABEL_FILE}), sorted. */
  labelFiles: string[];
  /** PNGs in `images/`. */
  images: number;
  imageBytes: number;
  /** `archives/*.tar.gz`, sorted. */
  archives: string[];
}

/**
 * Lists a data folder in the NIH layout; a missing folder lists as empty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${dir}/images`);
 * Deno.writeTextFileSync(`${dir}/images/00000001_000.png`, "png");
 * for (const f of ["Data_Entry_2017.csv", "test_list.txt", "README.md", "split.json"]) Deno.writeTextFileSync(`${dir}/${f}`, "");
 * assert.deepEqual(listDataset(dir), { dir, labelFiles: ["Data_Entry_2017.csv", "split.json", "test_list.txt"], images: 1, imageBytes: 3, archives: [] });
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function listDataset(dataDir: string): DatasetListing {
  const names = (d: string) => (existsSync(d) ? readdirSync(d) : []).sort();
  const isFile = (p: string) => statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
  const labelFiles = names(dataDir).filter((n) => LABEL_FILE.test(n) && isFile(join(dataDir, n)));
  let images = 0, imageBytes = 0;
  for (const n of names(join(dataDir, "images"))) {
    const st = n.toLowerCase().endsWith(".png") ? statSync(join(dataDir, "images", n)) : undefined;
    if (st?.isFile()) {
      images++;
      imageBytes += st.size;
    }
  }
  const archives = names(join(dataDir, "archives")).filter((n) => n.endsWith(".tar.gz"));
  return { dir: dataDir, labelFiles, images, imageBytes, archives };
}

/** The folder holds no usable data set and nothing was asked to make one. */
export class DatasetNotFoundError extends NihError {
  /**
   * @param missing What the folder lacks (`no PNGs in images/`).
   */
  constructor(missing: string, readonly dir: string, options?: ErrorOptions) {
    super(
      `No NIH data set in "${dir}": ${missing}. Synthesise one (synthImages > 0), fetch the real one ` +
        '(fetch: true, or "deno task cxr data fetch"), or point dataDir at a folder that has it',
      options,
    );
  }
}

/** Options of {@linkcode ensureDataset}. */
export interface EnsureDatasetOptions {
  /** > 0: write a synthetic set of this many images (kept when already there); 0: use or fetch. @default 0 */
  synthImages?: number;
  /** Side of the synthetic images. @default 1024 */
  synthSize?: number;
  /** Seed of the synthetic set. @default 1 */
  seed?: number;
  /** Download the real archives and label files (45 GB) when `synthImages` is 0; options pass through. @default false */
  fetch?: boolean | FetchOptions;
  /** Draw progress (a live display in Jupyter, a bar on a terminal, lines in logs). @default false */
  progress?: boolean;
}

/** What {@linkcode ensureDataset} found or made; a table in Jupyter. */
export class DatasetSummary {
  /** The synthetic set, when one was written. */
  readonly synth?: SynthSummary;
  /** The download, when one was made. */
  readonly fetch?: FetchSummary;

  /**
   * @param source Where the data came from in this call.
   * @param listing What the folder holds now.
   */
  constructor(
    readonly source: "synthetic" | "fetched" | "existing",
    readonly listing: DatasetListing,
    extra: { synth?: SynthSummary; fetch?: FetchSummary } = {},
  ) {
    if (extra.synth) this.synth = extra.synth;
    if (extra.fetch) this.fetch = extra.fetch;
  }

  /** One line: what and where. */
  headline(): string {
    const l = this.listing;
    const what = this.synth
      ? `${this.synth.images} synthetic images of ${this.synth.patients} patients (seed ${this.synth.seed}, ` +
        `${this.synth.size}x${this.synth.size}; ${this.synth.written} written, ${this.synth.skipped} kept)`
      : this.fetch
      ? `${l.images} images fetched and extracted from ${this.fetch.archives.length} archives (${this.fetch.failed} failed)`
      : `${l.images} images already there`;
    return `${what} in \`${l.dir}\``;
  }

  /** The plain data. */
  toJSON(): {
    source: string;
    listing: DatasetListing;
    synth?: SynthSummary | undefined;
    fetch?: FetchSummary | undefined;
  } {
    return { source: this.source, listing: this.listing, synth: this.synth, fetch: this.fetch };
  }

  /** The MIME bundle Deno's Jupyter kernel shows: a Markdown table of the folder's contents. */
  [JUPYTER_DISPLAY](): { "text/markdown": string; "text/plain": string } {
    const l = this.listing;
    const rows: [string, string][] = [
      ["images/*.png", `${l.images} (${formatAmount(l.imageBytes, "bytes")})`],
      ...l.labelFiles.map((f): [string, string] => [f, formatAmount(statSync(join(l.dir, f)).size, "bytes")]),
      ["archives/*.tar.gz", String(l.archives.length)],
    ];
    const table = ["| file | contents |", "| --- | ---: |", ...rows.map(([a, b]) => `| ${a} | ${b} |`)];
    return {
      "text/markdown": [this.headline(), "", ...table].join("\n"),
      "text/plain": [this.headline(), ...rows.map(([a, b]) => `  ${a.padEnd(32)} ${b}`)].join("\n"),
    };
  }
}

/**
 * Makes sure `dataDir` holds an NIH-layout data set: with `synthImages > 0` writes (or keeps) a synthetic one,
 * else with `fetch` downloads and extracts the real archives and label files, else checks that a label file
 * and images are there.
 *
 * @throws {DatasetNotFoundError} When nothing is to be made and the folder has no `Data_Entry*` file or no images.
 * @throws {SynthTargetError} When synthesising into a folder of real data.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * const made = await ensureDataset(dir, { synthImages: 4, synthSize: 32, seed: 2 });
 * assert.equal(made.source, "synthetic");
 * assert.equal(made.listing.images, 4);
 * const again = await ensureDataset(dir);
 * assert.deepEqual([again.source, again.listing.labelFiles], ["existing", made.listing.labelFiles]);
 * await assert.rejects(ensureDataset(`${dir}/images`), DatasetNotFoundError);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function ensureDataset(
  dataDir: string,
  options: EnsureDatasetOptions = {},
): Promise<DatasetSummary> {
  const synthImages = options.synthImages ?? 0;
  if (!Number.isInteger(synthImages) || synthImages < 0) {
    throw new RangeError(`ensureDataset: synthImages must be an integer >= 0, got ${synthImages}`);
  }
  if (synthImages > 0) {
    const bar = options.progress ? new Progress({ label: "synthesise", total: synthImages }) : undefined;
    const synth = await synthesize(dataDir, {
      images: synthImages,
      size: options.synthSize,
      seed: options.seed,
      onProgress: (e) => bar?.update(e.done, e.total),
    });
    bar?.finish();
    return new DatasetSummary("synthetic", listDataset(dataDir), { synth });
  }
  if (options.fetch) {
    const given = options.fetch === true ? {} : options.fetch;
    const bars = new Map<string, Progress>();
    const fetch = await fetchArchives(dataDir, {
      labels: true,
      ...given,
      onProgress: (e) => {
        given.onProgress?.(e);
        if (!options.progress) return;
        const key = `${e.phase} ${e.archive}`;
        let bar = bars.get(key);
        if (!bar) bars.set(key, bar = new Progress({ label: key, total: e.bytesTotal, unit: "bytes" }));
        bar.update(e.bytesDone, e.bytesTotal);
      },
    });
    for (const bar of bars.values()) bar.finish();
    return new DatasetSummary("fetched", listDataset(dataDir), { fetch });
  }
  const listing = listDataset(dataDir);
  if (!listing.labelFiles.some((f) => f.startsWith("Data_Entry"))) {
    throw new DatasetNotFoundError("no Data_Entry_2017*.csv label file", dataDir);
  }
  if (listing.images === 0) throw new DatasetNotFoundError("no PNGs in images/", dataDir);
  return new DatasetSummary("existing", listing);
}

/** Options of {@linkcode prepareSplit}. */
export interface PrepareSplitOptions {
  /** `official` (NIH's lists, val carved out by patient) or `seed` (the seed project's split). @default "official" */
  method?: SplitMethod;
  /** Seed of the shuffle. @default 0 */
  seed?: number;
  /** Label file in `dataDir`. @default "Data_Entry_2017.csv" */
  entriesFile?: string;
  /** The label file already parsed (then `entriesFile` is not read). */
  entries?: EntryTable;
  /** Bounding boxes in `dataDir`, for `seed`. @default "BBox_List_2017.csv" */
  bboxFile?: string;
  /** Blacklist file in `dataDir`, if any. */
  blacklistFile?: string;
  /** Share of train_val patients moved to val, for `official`. @default 0.1 */
  valFraction?: number | undefined;
  /** Where to write the split file. @default `<dataDir>/split.json` */
  out?: string;
}

/** A split drawn and written; a table of partitions in Jupyter. */
export class SplitSummary {
  readonly split: Split;
  /** Remarks (names in the lists but not the entries, ...). */
  readonly warnings: string[];

  /** @param file The split file written. */
  constructor(readonly file: string, { split, warnings }: SplitResult) {
    this.split = split;
    this.warnings = warnings;
  }

  /** Images per partition. */
  get images(): Record<Partition, number> {
    const { train, val, test } = this.split.images;
    return { train: train.length, val: val.length, test: test.length };
  }

  /** The plain data, without the image lists. */
  toJSON(): {
    file: string;
    method: string;
    seed: number;
    digest: string;
    images: Record<Partition, number>;
    patients: Record<Partition, number>;
    warnings: string[];
  } {
    const { method, seed, digest, patients } = this.split;
    return {
      file: this.file,
      method,
      seed,
      digest,
      images: this.images,
      patients: { ...patients },
      warnings: this.warnings,
    };
  }

  /** The MIME bundle Deno's Jupyter kernel shows: partitions with images and patients, file, digest, warnings. */
  [JUPYTER_DISPLAY](): { "text/html": string; "text/plain": string } {
    const j = this.toJSON();
    const head = `${j.method} split, seed ${j.seed}, written to ${j.file} (digest ${j.digest.slice(0, 12)}…)`;
    const rows = PARTITIONS.map((p) => [{ text: p, th: true }, String(j.images[p]), String(j.patients[p])]);
    const warn = j.warnings.length
      ? `<ul>${j.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join("")}</ul>`
      : "";
    const pad = (n: number, width: number) => String(n).padStart(width);
    const line = (p: Partition) =>
      `  ${p.padEnd(6)} ${pad(j.images[p], 7)} images ${pad(j.patients[p], 6)} patients`;
    return {
      "text/html": `<p>${escapeHtml(head)}</p>${htmlTable(["partition", "images", "patients"], rows)}${warn}`,
      "text/plain": [head, ...PARTITIONS.map(line), ...j.warnings.map((w) => `  warning: ${w}`)].join("\n"),
    };
  }
}

/**
 * Draws the patient-wise split of the data set in `dataDir` and writes it as a `cxr-split/1` file: reads the
 * label file (and the boxes for `seed`, or NIH's `train_val_list.txt` and `test_list.txt` for `official`),
 * then calls {@linkcode seedSplit} or {@linkcode officialSplit}.
 *
 * @throws {RangeError} For an unknown method.
 * @throws {NihFormatError} When an input file does not parse; {@linkcode SplitError} when the lists overlap.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * await ensureDataset(dir, { synthImages: 20, synthSize: 16 });
 * const s = prepareSplit(dir, { method: "seed", seed: 1 });
 * assert.equal(s.file, `${dir}/split.json`);
 * assert.equal(s.images.train + s.images.val + s.images.test, 20);
 * assert.match(JSON.stringify(s), /"method":"seed"/);
 * assert.throws(() => prepareSplit(dir, { method: "random" as never }), /method must be one of seed, official/);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function prepareSplit(dataDir: string, options: PrepareSplitOptions = {}): SplitSummary {
  const method = options.method ?? "official";
  if (!SPLIT_METHODS.includes(method)) {
    throw new RangeError(`prepareSplit: method must be one of ${SPLIT_METHODS.join(", ")}, got "${method}"`);
  }
  const entries = options.entries ?? readEntries(join(dataDir, options.entriesFile ?? "Data_Entry_2017.csv"));
  const common = {
    seed: options.seed ?? 0,
    blacklist: options.blacklistFile ? readBlacklist(join(dataDir, options.blacklistFile)) : undefined,
  };
  const result = method === "seed"
    ? seedSplit(entries, readBoundingBoxes(join(dataDir, options.bboxFile ?? "BBox_List_2017.csv")), common)
    : officialSplit(
      entries,
      readSplitList(join(dataDir, "train_val_list.txt")),
      readSplitList(join(dataDir, "test_list.txt")),
      { ...common, valFraction: options.valFraction },
    );
  const file = options.out ?? join(dataDir, "split.json");
  writeSplit(file, result.split);
  return new SplitSummary(file, result);
}
