/**
 * Label statistics: images, patients and images per finding (plus `No Finding`), overall and per partition of
 * a split. The summary renders itself as a table in Jupyter; {@linkcode labelChartSvg} draws the counts.
 *
 * @module
 */
import { type Finding, FINDINGS, NO_FINDING } from "./classes.ts";
import { type Partition, PARTITIONS, type Split, SplitError } from "./split_file.ts";
import { escapeHtml, htmlTable, JUPYTER_DISPLAY, svgOpen, textTable } from "../display.ts";

/** A count per finding, plus `No Finding`, in `FINDINGS` order. */
export type LabelCountMap = Record<Finding | typeof NO_FINDING, number>;

/** Counts over a set of images. */
export interface LabelCounts {
  images: number;
  /** Number of distinct patients. */
  patients: number;
  /** Images per finding (an image with several findings counts for each), and images with none. */
  counts: LabelCountMap;
}

/** What {@linkcode labelStatistics} needs of an entry. */
export type LabeledImage = { image: string; patientId: number; labels: ArrayLike<number> };

function count(entries: Iterable<LabeledImage>): LabelCounts {
  const counts = Object.fromEntries([...FINDINGS, NO_FINDING].map((name) => [name, 0])) as LabelCountMap;
  const patients = new Set<number>();
  let images = 0;
  for (const e of entries) {
    images++;
    patients.add(e.patientId);
    const found = FINDINGS.filter((_, i) => e.labels[i]);
    for (const name of found.length > 0 ? found : [NO_FINDING]) counts[name]++;
  }
  return { images, patients: patients.size, counts };
}

/**
 * Label statistics of a set of images, optionally per partition. `toJSON()` gives the shape the CLI prints;
 * in Jupyter it renders as an HTML table with a bar chart.
 */
export class LabelStatistics implements LabelCounts {
  images: number;
  patients: number;
  counts: LabelCountMap;
  /** Counts per partition, when a split was given. */
  partitions?: Record<Partition, LabelCounts>;

  constructor(all: LabelCounts, partitions?: Record<Partition, LabelCounts>) {
    this.images = all.images;
    this.patients = all.patients;
    this.counts = all.counts;
    if (partitions) this.partitions = partitions;
  }

  /** The plain data: `{ images, patients, counts, partitions? }`. */
  toJSON(): LabelCounts & { partitions?: Record<Partition, LabelCounts> } {
    const { images, patients, counts, partitions } = this;
    return { images, patients, counts, ...(partitions ? { partitions } : {}) };
  }

  #rows(): [head: string[], ...body: [label: string, ...values: string[]][]] {
    const columns = new Map<string, LabelCounts>([["all", this]]);
    for (const p of this.partitions ? PARTITIONS : []) columns.set(p, this.partitions![p]);
    const row = (label: string, value: (c: LabelCounts) => string): [string, ...string[]] => [
      label,
      ...[...columns.values()].map(value),
    ];
    const pct = (n: number, of: number) => of === 0 ? "0.0%" : `${(100 * n / of).toFixed(1)}%`;
    return [
      ["", ...columns.keys()],
      row("images", (c) => String(c.images)),
      row("patients", (c) => String(c.patients)),
      ...[...FINDINGS, NO_FINDING].map((f) =>
        row(f, (c) => `${c.counts[f]} (${pct(c.counts[f], c.images)})`)
      ),
    ];
  }

  /**
   * A plain-text table: one row per label, one column per partition (counts and share of images).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * const s = labelStatistics([{ image: "00000001_000.png", patientId: 1, labels: [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }]);
   * assert.match(s.toText(), /Cardiomegaly\s+1 \(100\.0%\)/);
   * ```
   */
  toText(): string {
    const rows = this.#rows();
    return textTable(rows, { align: rows[0].map((_, j) => j === 0 ? "left" : "right") });
  }

  /** An HTML table followed by the SVG bar chart of the overall counts. */
  toHtml(): string {
    const [head, ...body] = this.#rows();
    const trs = body.map((
      [name, ...values],
    ) => [{ text: name, th: true, style: "text-align:left" }, ...values]);
    return `${htmlTable(head, trs, { cellStyle: "text-align:right" })}\n${labelChartSvg(this.counts)}`;
  }

  /**
   * The MIME bundle Deno's Jupyter kernel shows for this object.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { JUPYTER_DISPLAY } from "../display.ts";
   * const s = labelStatistics([{ image: "00000001_000.png", patientId: 1, labels: new Array(14).fill(0) }]);
   * const bundle = s[JUPYTER_DISPLAY]();
   * assert.match(bundle["text/html"], /<table>.*No Finding/s);
   * assert.match(bundle["text/plain"], /images\s+1/);
   * ```
   */
  [JUPYTER_DISPLAY](): { "text/html": string; "text/plain": string } {
    return { "text/html": this.toHtml(), "text/plain": this.toText() };
  }
}

/**
 * Counts images, patients and labels; with `options.split`, also per partition (the split's names must all
 * be among `entries`).
 *
 * @throws {SplitError} If the split names images that are not among the entries.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const z = new Array(14).fill(0);
 * const mass = z.map((_, i) => i === 4 ? 1 : 0);
 * const s = labelStatistics([
 *   { image: "00000001_000.png", patientId: 1, labels: mass },
 *   { image: "00000001_001.png", patientId: 1, labels: z },
 * ]);
 * assert.deepEqual([s.images, s.patients, s.counts.Mass, s.counts["No Finding"]], [2, 1, 1, 1]);
 * ```
 */
export function labelStatistics(
  entries: readonly LabeledImage[],
  options: { split?: Pick<Split, "images"> } = {},
): LabelStatistics {
  const all = count(entries);
  if (!options.split) return new LabelStatistics(all);
  const byName = new Map(entries.map((e) => [e.image, e]));
  const partitions = {} as Record<Partition, LabelCounts>;
  for (const p of PARTITIONS) {
    const names = options.split.images[p];
    const missing = names.filter((n) => !byName.has(n));
    if (missing.length > 0) {
      const first = missing.slice(0, 5).join(", ");
      throw new SplitError(
        `${missing.length} images of the split's ${p} partition are not in the entries: ${first}`,
      );
    }
    partitions[p] = count(names.map((n) => byName.get(n)!));
  }
  return new LabelStatistics(all, partitions);
}

/** Options of {@linkcode labelChartSvg}. */
export interface LabelChartOptions {
  /** Title above the bars. @default "Images per label" */
  title?: string;
  /** Width of the drawing in pixels. @default 640 */
  width?: number;
  /** Height of one bar in pixels. @default 18 */
  barHeight?: number;
  /** Sort bars by count, largest first; otherwise keep the given order. @default true */
  sort?: boolean;
}

/**
 * A horizontal bar chart of label counts as an SVG string (no dependencies).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const svg = labelChartSvg({ Mass: 10, Hernia: 1, "No Finding": 20 });
 * assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
 * assert.equal(svg.match(/<rect /g)?.length, 3);
 * assert.ok(svg.indexOf("No Finding") < svg.indexOf("Hernia"));
 * ```
 */
export function labelChartSvg(counts: Record<string, number>, options: LabelChartOptions = {}): string {
  const width = options.width ?? 640;
  const bar = options.barHeight ?? 18;
  const title = options.title ?? "Images per label";
  const items = Object.entries(counts);
  if (options.sort ?? true) items.sort((a, b) => b[1] - a[1]);
  const label = 150;
  const valueRoom = 70;
  const top = 28;
  const max = Math.max(1, ...items.map(([, n]) => n));
  const plot = Math.max(10, width - label - valueRoom);
  const height = top + items.length * (bar + 4) + 8;
  const parts = [
    svgOpen(width, height, { fontSize: 12 }),
    `<text x="${label}" y="18" font-weight="bold">${escapeHtml(title)}</text>`,
  ];
  items.forEach(([name, n], i) => {
    const y = top + i * (bar + 4);
    const w = (plot * n / max).toFixed(1);
    const tip = `<title>${escapeHtml(name)}: ${n}</title>`;
    parts.push(
      `<text x="${label - 6}" y="${y + bar * 0.75}" text-anchor="end">${escapeHtml(name)}</text>`,
      `<rect x="${label}" y="${y}" width="${w}" height="${bar}" fill="#4c78a8">${tip}</rect>`,
      `<text x="${label + Number(w) + 4}" y="${y + bar * 0.75}">${n}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}
