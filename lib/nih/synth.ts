/**
 * A synthetic data set in the NIH ChestX-ray14 layout, for the demo and for tests where the real data is
 * absent: grey 8-bit PNGs that look vaguely like chest X-rays, with one visible, learnable pattern per
 * finding (a dense band at a lung base for Atelectasis, an enlarged heart for Cardiomegaly, three dots for
 * Nodule, ...), plus `Data_Entry_2017.csv`, `BBox_List_2017.csv`, `train_val_list.txt` and `test_list.txt`
 * in the real files' formats. Everything is fixed by the seed.
 *
 * @module
 */
import { mkdir, open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { mapPool } from "../pool.ts";
import { withDisplay } from "../display.ts";
import { geometry, render } from "./_synth_draw.ts";
import { bboxCsv, dataEntryCsv, planSynthetic, splitLists } from "./_synth_plan.ts";
import { FINDINGS, NO_FINDING } from "./classes.ts";
import { NihError } from "./errors.ts";
import { checkInt } from "./_format.ts";
import { writeAtomic } from "../write_atomic.ts";

/** Options of {@linkcode synthesize}. */
export interface SynthOptions {
  /** Number of images to write (1..1,000,000). */
  images: number;
  /** Seed of everything: labels, patients, split, pixels (an integer 0..2^32-1). @default 1 */
  seed?: number | undefined;
  /** Side of the square images in pixels (16..4096). @default 1024 */
  size?: number | undefined;
  /** Images being encoded at once. @default the number of CPUs + 2, at most 8 */
  concurrency?: number;
  /** Called after each image. */
  onProgress?: (event: SynthProgress) => void;
}

/** Reported after each image. */
export interface SynthProgress {
  /** Images done so far (written or skipped). */
  done: number;
  /** Images in all. */
  total: number;
  /** Images encoded and written so far. */
  written: number;
  /** Images found complete from an earlier run with the same seed, size and count. */
  skipped: number;
  /** The image just done, e.g. `00000001_000.png`. */
  name: string;
}

/** What {@linkcode synthesize} made; in Jupyter it displays as a table of label counts. */
export interface SynthSummary {
  /** The output folder. */
  out: string;
  images: number;
  patients: number;
  seed: number;
  size: number;
  /** Images per finding, plus `No Finding`. */
  counts: Record<string, number>;
  /** Images in `train_val_list.txt` and `test_list.txt`. */
  trainVal: number;
  test: number;
  /** Boxes in `BBox_List_2017.csv`. */
  boxes: number;
  written: number;
  skipped: number;
}

/**
 * The output folder holds NIH files that this generator did not write (no `synth.json`): a real data set is
 * never overwritten.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/Data_Entry_2017.csv`, "");
 * await assert.rejects(synthesize(dir, { images: 1 }), (e: unknown) =>
 *   e instanceof SynthTargetError && e.found === "Data_Entry_2017.csv" &&
 *   /Refusing to write synthetic data into ".+": it holds Data_Entry_2017\.csv but no synth\.json/.test(e.message));
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class SynthTargetError extends NihError {
  /**
   * @param message What was found where, and what to do.
   * @param dir The output folder.
   */
  constructor(message: string, readonly dir: string, readonly found: string, options?: ErrorOptions) {
    super(message, options);
  }
}

const NIH_FILES = ["Data_Entry_2017.csv", "BBox_List_2017.csv", "train_val_list.txt", "test_list.txt"];

/** Throws {@linkcode SynthTargetError} when `dir` has NIH files or images but no `synth.json`. */
async function checkTarget(dir: string): Promise<string> {
  const previous = await readFile(join(dir, "synth.json"), "utf8").catch(() => undefined);
  if (previous !== undefined) return previous;
  const names = await readdir(dir).catch(() => [] as string[]);
  const found = NIH_FILES.find((f) => names.includes(f)) ??
    (names.includes("images") && (await readdir(join(dir, "images")).catch(() => [])).length > 0
      ? "images/"
      : undefined);
  if (found) {
    throw new SynthTargetError(
      `Refusing to write synthetic data into "${dir}": it holds ${found} but no synth.json, so it is not a ` +
        "synthetic set from this tool; choose an empty or new folder",
      dir,
      found,
    );
  }
  return "";
}

/** The generator's version, recorded in `synth.json`; bump it when the pictures change. */
const GENERATOR = "cxr-synth/1";

const IEND = [0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82];

/** True when `path` is a whole 8-bit grey PNG of `size`×`size`: signature, IHDR and final IEND checked. */
async function isComplete(path: string, size: number): Promise<boolean> {
  let f;
  try {
    f = await open(path, "r");
  } catch {
    return false;
  }
  try {
    const { size: bytes } = await f.stat();
    if (bytes < 26 + IEND.length) return false;
    const head = new Uint8Array(26);
    const tail = new Uint8Array(IEND.length);
    await f.read(head, 0, head.length, 0);
    await f.read(tail, 0, tail.length, bytes - tail.length);
    const view = new DataView(head.buffer);
    return view.getUint32(0) === 0x89504e47 && view.getUint32(12) === 0x49484452 &&
      view.getUint32(16) === size && view.getUint32(20) === size && head[24] === 8 && head[25] === 0 &&
      IEND.every((b, i) => tail[i] === b);
  } finally {
    await f.close();
  }
}

const README = (seed: number, size: number, images: number) =>
  `# Synthetic chest X-rays (not real data)

Made by \`deno task cxr data synth\` (${GENERATOR}, seed ${seed}, ${images} images of ${size}x${size}) in the
layout of the NIH ChestX-ray14 data set. Nothing here comes from a patient: the pictures are drawn shapes
(torso, two lung fields, heart) with noise, and each of the 14 findings adds its own visible pattern, so a
small model can learn them. Labels follow NIH's frequencies roughly; \`BBox_List_2017.csv\` boxes mark where
the patterns are drawn. Use it for demos and tests only.

Re-running with the same seed, size and number of images keeps the PNGs already written (they are written
atomically); any other setting rewrites them all. \`synth.json\` records the settings.
`;

/**
 * Writes a synthetic NIH-layout data set to `outDir`: `images/<name>.png` (grey 8-bit PNGs),
 * `Data_Entry_2017.csv`, `BBox_List_2017.csv`, `train_val_list.txt`, `test_list.txt`, `README.md` and
 * `synth.json` (the settings). The same seed, size and count give byte-identical files. Resumable: when
 * `synth.json` shows the same settings, complete PNGs already there are kept; otherwise all are rewritten.
 *
 * @param outDir Folder to write into (created if missing).
 * @param options Number of images, seed, size, concurrency, progress callback.
 * @returns What was made: counts per finding, patients, split sizes, written and skipped images.
 * @throws {TypeError|RangeError} When an option is not an integer in its range.
 * @throws {SynthTargetError} When `outDir` holds NIH files or images but no `synth.json` (real data, say).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readFileSync, mkdtempSync, rmSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * const dir = mkdtempSync(`${tmpdir()}/synth-`);
 * const summary = await synthesize(dir, { images: 6, seed: 7, size: 64 });
 * assert.equal(summary.images, 6);
 * const csv = readFileSync(`${dir}/Data_Entry_2017.csv`, "utf8");
 * assert.match(csv, /^Image Index,Finding Labels,Follow-up #,Patient ID,/);
 * assert.equal(csv.trim().split("\n").length, 7);
 * rmSync(dir, { recursive: true });
 * ```
 */
export async function synthesize(outDir: string, options: SynthOptions): Promise<SynthSummary> {
  const images = checkInt("synthesize", "images", options?.images, 1, 1_000_000);
  const seed = checkInt("synthesize", "seed", options.seed ?? 1, 0, 2 ** 32 - 1);
  const size = checkInt("synthesize", "size", options.size ?? 1024, 16, 4096);
  const cpus = Math.min(8, navigator.hardwareConcurrency + 2);
  const concurrency = checkInt("synthesize", "concurrency", options.concurrency ?? cpus, 1, 256);
  const previous = await checkTarget(outDir);
  const plan = planSynthetic(images, seed);
  await mkdir(join(outDir, "images"), { recursive: true });

  const manifest = JSON.stringify({ generator: GENERATOR, seed, size, images }) + "\n";
  const resume = previous === manifest;
  await writeAtomic(join(outDir, "synth.json"), manifest);
  const lists = splitLists(plan);
  await writeAtomic(join(outDir, "Data_Entry_2017.csv"), dataEntryCsv(plan));
  await writeAtomic(join(outDir, "BBox_List_2017.csv"), bboxCsv(plan, size));
  await writeAtomic(join(outDir, "train_val_list.txt"), lists.trainVal.join("\n"));
  await writeAtomic(join(outDir, "test_list.txt"), lists.test.join("\n"));
  await writeAtomic(join(outDir, "README.md"), README(seed, size, images));

  let written = 0, skipped = 0;
  await mapPool(plan.rows, concurrency, async (row) => {
    const path = join(outDir, "images", row.name);
    if (resume && await isComplete(path, size)) {
      skipped++;
    } else {
      const pixels = render(geometry(row.labels, row.seed), size);
      const png = await sharp(pixels, { raw: { width: size, height: size, channels: 1 } })
        .toColourspace("b-w")
        .png({ compressionLevel: 3, adaptiveFiltering: false })
        .toBuffer();
      await writeAtomic(path, png);
      written++;
    }
    options.onProgress?.({ done: written + skipped, total: images, written, skipped, name: row.name });
  });

  const hist = new Array<number>(FINDINGS.length + 1).fill(0); // the last one: No Finding
  for (const r of plan.rows) for (const k of r.labels.length ? r.labels : [FINDINGS.length]) hist[k]!++;
  const counts: Record<string, number> = Object.fromEntries(
    [...FINDINGS, NO_FINDING].map((f, k) => [f, hist[k] ?? 0]),
  );
  const summary: SynthSummary = {
    out: outDir,
    images,
    patients: plan.patients,
    seed,
    size,
    counts,
    trainVal: lists.trainVal.length,
    test: lists.test.length,
    boxes: plan.boxes.length,
    written,
    skipped,
  };
  // Renders as a table in Deno's Jupyter kernel; not enumerable, so JSON and comparisons ignore it.
  return withDisplay(summary, () => displayBundle(summary));
}

function displayBundle(s: SynthSummary): Record<string, string> {
  const head = `${s.images} synthetic images of ${s.patients} patients in \`${s.out}\` ` +
    `(${s.trainVal} train/val, ${s.test} test, ${s.boxes} boxes; seed ${s.seed}, ${s.size}x${s.size})`;
  const rows = Object.entries(s.counts).map(([label, n]) => `| ${label} | ${n} |`);
  return {
    "text/markdown": [head, "", "| label | images |", "| --- | ---: |", ...rows].join("\n"),
    "text/plain": [head, ...Object.entries(s.counts).map(([l, n]) => `  ${l.padEnd(20)} ${n}`)].join("\n"),
  };
}
