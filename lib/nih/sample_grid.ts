/**
 * A grid of sample images with their labels written under each: the quickest way to see that images and
 * labels belong together. Samples are picked to cover different findings; RGBA PNGs (about 1 % of NIH's) are
 * shown grey like the rest; an image that cannot be read becomes a tile that says why.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { type Finding, FINDINGS, NO_FINDING } from "./classes.ts";
import { base64, escapeHtml, JUPYTER_DISPLAY, svgOpen } from "../display.ts";
import { NihError } from "./errors.ts";
import { checkInt } from "./_format.ts";
import { MersenneTwister } from "./mt19937.ts";

/** What {@linkcode sampleGrid} needs of an entry. */
export type GridEntry = { image: string; labels: ArrayLike<number> };

/** Options of {@linkcode pickSamples}. */
export interface PickSamplesOptions {
  /** How many to pick. @default 12 */
  count?: number;
  /** Seed of the pick (CPython-compatible shuffle). @default 0 */
  seed?: number;
  /** Findings to cover, in turn; `No Finding` means an image without any. @default all 14 and `No Finding` */
  findings?: readonly (Finding | typeof NO_FINDING)[];
}

/** Options of {@linkcode sampleGrid}. */
export interface SampleGridOptions extends PickSamplesOptions {
  /** Tiles per row. @default 4 */
  columns?: number;
  /** Side of each thumbnail in pixels (32..1024). @default 192 */
  thumb?: number;
  /** Show exactly these image names instead of picking (a missing one becomes an error tile). */
  images?: readonly string[];
  /** Folder of the PNGs. @default `<dataDir>/images` */
  imagesDir?: string;
}

/** One tile of the grid. */
export interface GridSample {
  image: string;
  /** Its findings, or `["No Finding"]`; empty when the image is not among the entries. */
  labels: string[];
  /** Why the image could not be shown, if it could not. */
  error?: string;
}

/** No image to show: none of the entries has its PNG in the images folder. */
export class NoSamplesError extends NihError {
  /**
   * @param message What was searched and where.
   */
  constructor(message: string, readonly dir: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The names of an entry's findings, or `["No Finding"]`. */
function labelNames(labels: ArrayLike<number>): string[] {
  const names = FINDINGS.filter((_, i) => labels[i]);
  return names.length ? names : [NO_FINDING];
}

/**
 * Picks up to `count` entries covering different findings: the entries are shuffled with the seed, then each
 * finding in turn gets the first entry not yet picked that has it, round after round; when no finding can be
 * served any more, the rest of the shuffled entries fill up.
 *
 * @throws {RangeError} If `count` is not an integer 1..1000.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const z = new Array(14).fill(0);
 * const hernia = z.map((_, i) => i === 13 ? 1 : 0);
 * const entries = [
 *   ...Array.from({ length: 8 }, (_, i) => ({ image: `0000000${i}_000.png`, labels: z })),
 *   { image: "00000009_000.png", labels: hernia },
 * ];
 * const picked = pickSamples(entries, { count: 2 });
 * assert.deepEqual(picked.map((e) => e.labels[13]).sort(), [0, 1]); // one Hernia, one without findings
 * ```
 */
export function pickSamples<T extends GridEntry>(
  entries: readonly T[],
  options: PickSamplesOptions = {},
): T[] {
  const count = checkInt("pickSamples", "count", options.count ?? 12, 1, 1000);
  const findings = options.findings ?? [...FINDINGS, NO_FINDING];
  const order = entries.map((_, i) => i);
  new MersenneTwister(options.seed ?? 0).shuffle(order);
  const taken = new Set<number>();
  const has = (e: GridEntry, f: string) =>
    f === NO_FINDING
      ? !Array.from(e.labels).some(Boolean)
      : Boolean(e.labels[(FINDINGS as readonly string[]).indexOf(f)]);
  let progressed = true;
  while (taken.size < Math.min(count, entries.length) && progressed) {
    progressed = false;
    for (const f of findings) {
      if (taken.size >= count) break;
      const i = order.find((i) => !taken.has(i) && has(entries[i]!, f)); // order: indices of entries
      if (i !== undefined) {
        taken.add(i);
        progressed = true;
      }
    }
  }
  for (const i of order) {
    if (taken.size >= count) break;
    taken.add(i);
  }
  return [...taken].map((i) => entries[i]!);
}

/** A grid of samples: a grey PNG plus what is on it; renders as the image in Jupyter. */
export class SampleGrid {
  constructor(
    /** The grid as a grey 8-bit PNG. */
    readonly png: Uint8Array,
    /** Width in pixels. */
    readonly width: number,
    /** Height in pixels. */
    readonly height: number,
    /** The tiles, row by row. */
    readonly samples: GridSample[],
  ) {}

  /** One line per tile: name, labels, or the error. */
  toText(): string {
    const line = (s: GridSample) =>
      `${s.image}: ${s.error ? `(cannot show: ${s.error})` : s.labels.join(", ")}`;
    return this.samples.map(line).join("\n");
  }

  /** The plain data, without the PNG. */
  toJSON(): { width: number; height: number; samples: GridSample[] } {
    return { width: this.width, height: this.height, samples: this.samples };
  }

  /** The MIME bundle Deno's Jupyter kernel shows: the PNG, and the text for plain viewers. */
  [JUPYTER_DISPLAY](): { "image/png": string; "text/plain": string } {
    return { "image/png": base64(this.png), "text/plain": this.toText() };
  }
}

const FONT = 12;
const LINE = 15;
const CAPTION_LINES = 3;

/** Wraps `words` into at most `lines` lines of `width` characters, the last one cut with an ellipsis. */
function wrap(text: string, width: number, lines: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/(?<=[, ])/)) {
    if (line && (line + word).length > width) {
      out.push(line.trimEnd());
      line = "";
    }
    line += word;
  }
  if (line) out.push(line.trimEnd());
  if (out.length > lines) {
    out.length = lines;
    out[lines - 1] = `${out.at(-1)?.slice(0, width - 1)}…`;
  }
  return out.map((l) => (l.length > width ? l.slice(0, width - 1) + "…" : l));
}

/** An SVG text block of `lines` (first one dimmer when `dimFirst`), on `background` if given. */
function textSvg(
  width: number,
  height: number,
  lines: string[],
  dimFirst: boolean,
  background?: string,
): Buffer {
  const fill = (i: number) => i === 0 && dimFirst ? "#a0a0a0" : "#ffffff";
  const texts = lines.map((l, i) =>
    `<text x="4" y="${(i + 1) * LINE - 2}" fill="${fill(i)}">${escapeHtml(l)}</text>`
  );
  return Buffer.from(
    svgOpen(width, height, { viewBox: false, fontFamily: "DejaVu Sans, Arial, sans-serif", fontSize: FONT }) +
      (background ? `<rect width="100%" height="100%" fill="${background}"/>` : "") +
      `${texts.join("")}</svg>`,
  );
}

/** The thumbnail of one image, grey, letterboxed to `thumb`×`thumb`. */
async function thumbnail(path: string, thumb: number): Promise<Buffer> {
  return await sharp(path, { failOn: "error" })
    .removeAlpha()
    .grayscale()
    .resize(thumb, thumb, { fit: "contain", background: "#000000" })
    .png()
    .toBuffer();
}

/**
 * Draws a grid of sample images with their labels: thumbnails (grey, letterboxed) in `columns` columns, each
 * with its name and findings written under it. Without `options.images`, samples are picked among the
 * entries whose PNG is in the images folder, covering different findings (see {@linkcode pickSamples}). An
 * image that cannot be read or decoded becomes a dark tile with the error written on it.
 *
 * @param dataDir Folder in the NIH layout (PNGs in `images/`).
 * @param entries The label file's entries (or any `{ image, labels }`).
 * @throws {NoSamplesError} When picking and no entry has its image in the folder.
 * @throws {RangeError} When `count`, `columns` or `thumb` is out of range.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * const dir = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${dir}/images`);
 * const grey = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#808080" } }).png().toBuffer();
 * Deno.writeFileSync(`${dir}/images/00000001_000.png`, grey);
 * Deno.writeTextFileSync(`${dir}/images/00000002_000.png`, "not a png");
 * const mass = new Array(14).fill(0).map((_, i) => i === 4 ? 1 : 0);
 * const grid = await sampleGrid(dir, [
 *   { image: "00000001_000.png", labels: mass },
 *   { image: "00000002_000.png", labels: new Array(14).fill(0) },
 * ], { columns: 2, thumb: 64 });
 * assert.deepEqual([grid.width, grid.height], [128, 64 + 45]);
 * assert.deepEqual(grid.samples.map((s) => [s.image, s.labels, Boolean(s.error)]).sort(), [
 *   ["00000001_000.png", ["Mass"], false],
 *   ["00000002_000.png", ["No Finding"], true],
 * ]);
 * assert.equal((await sharp(grid.png).metadata()).channels, 1);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function sampleGrid(
  dataDir: string,
  entries: readonly GridEntry[],
  options: SampleGridOptions = {},
): Promise<SampleGrid> {
  const columns = checkInt("sampleGrid", "columns", options.columns ?? 4, 1, 64);
  const thumb = checkInt("sampleGrid", "thumb", options.thumb ?? 192, 32, 1024);
  const dir = options.imagesDir ?? join(dataDir, "images");
  let chosen: GridEntry[];
  if (options.images) {
    const byName = new Map(entries.map((e) => [e.image, e]));
    chosen = options.images.map((image) => byName.get(image) ?? { image, labels: [] });
  } else {
    const present = new Set(await readdir(dir).catch(() => [] as string[]));
    const candidates = entries.filter((e) => present.has(e.image));
    if (candidates.length === 0) {
      const message = `None of the ${entries.length} entries has its image in "${dir}"; nothing to show`;
      throw new NoSamplesError(message, dir);
    }
    chosen = pickSamples(candidates, options);
  }
  const tileH = thumb + CAPTION_LINES * LINE;
  const chars = Math.max(4, Math.floor((thumb - 8) / (FONT * 0.6)));
  const rows = Math.max(1, Math.ceil(chosen.length / columns));
  const width = Math.min(columns, Math.max(1, chosen.length)) * thumb;
  const height = rows * tileH;
  const samples: GridSample[] = [];
  const layers: sharp.OverlayOptions[] = [];
  // Decode a few at a time: a 1024² PNG takes about 15 ms and 1 MiB of memory.
  for (let start = 0; start < chosen.length; start += 4) {
    const batch = chosen.slice(start, start + 4);
    const thumbs = await Promise.allSettled(batch.map((e) => thumbnail(join(dir, e.image), thumb)));
    thumbs.forEach((t, k) => {
      const i = start + k;
      const e = batch[k]!; // allSettled keeps one result per batch item, in order
      const left = (i % columns) * thumb;
      const top = Math.floor(i / columns) * tileH;
      const labels = e.labels.length ? labelNames(e.labels) : [];
      const sample: GridSample = { image: e.image, labels };
      if (t.status === "fulfilled") {
        layers.push({ input: t.value, left, top });
      } else {
        const reason = t.reason instanceof Error ? t.reason.message : String(t.reason);
        sample.error = reason.replaceAll(join(dir, e.image), e.image).replace(/\s+/g, " ").trim();
        const lines = wrap(`cannot show: ${sample.error}`, chars, Math.floor(thumb / LINE) - 1);
        layers.push({ input: textSvg(thumb, thumb, ["", ...lines], false, "#505050"), left, top });
      }
      const text = labels.join(", ") || (t.status === "rejected" ? "(not in the entries)" : "");
      const caption = [e.image, ...wrap(text, chars, CAPTION_LINES - 1)];
      layers.push({ input: textSvg(thumb, CAPTION_LINES * LINE, caption, true), left, top: top + thumb });
      samples.push(sample);
    });
  }
  const composed = await sharp({ create: { width, height, channels: 3, background: "#202020" } })
    .composite(layers)
    .png()
    .toBuffer();
  const png = await sharp(composed).removeAlpha().toColourspace("b-w").png().toBuffer();
  return new SampleGrid(new Uint8Array(png), width, height, samples);
}
