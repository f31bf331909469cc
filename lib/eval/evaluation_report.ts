/**
 * The result of an evaluation: its metrics document ({@linkcode EvaluationJson}, `cxr-eval/1`) rendered as a
 * text table, an HTML table with SVG charts, a Vega-Lite ROC chart and SVG files.
 *
 * @module
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { escapeHtml, htmlTable, JUPYTER_DISPLAY, svgOpen, textTable, withDisplay } from "../display.ts";
import type { Interval } from "./bootstrap.ts";
import { type RocCurve, rocSvg, thinCurve } from "./roc.ts";

/** The `format` of the metrics JSON. */
export const EVALUATION_FORMAT = "cxr-eval/1";

/** One class's numbers. */
export interface ClassMetrics {
  /** Exact AUROC; `null` without positives or negatives (never 1.0). */
  auroc: number | null;
  /** Bootstrap interval, `null` when undefined or no bootstrap was run. */
  ci: Interval;
  /** Images with the finding. */
  positives: number;
  /** Images without it. */
  negatives: number;
}

/** The metrics document (`--out metrics.json`, `--json`). */
export interface EvaluationJson {
  /** {@linkcode EVALUATION_FORMAT}. */
  format: typeof EVALUATION_FORMAT;
  /** The model's version (bundle metadata) and engine. */
  model: { version: string; engine: string };
  /** The cache partition. */
  partition: string;
  /** Images scored. */
  images: number;
  /** By class, in the bundle's class order. */
  classes: Record<string, ClassMetrics>;
  /** Mean over the classes with a defined AUROC, and its interval. */
  mean: { auroc: number | null; ci: Interval; classes: number };
  /** Bootstrap settings (`resamples` 0 when none ran). */
  bootstrap: { resamples: number; confidence: number; seed: number };
  /** Published numbers to compare with. */
  references: { name: string; source: string; note?: string; perClass: Record<string, number> }[];
}

const fmt = (v: number | null | undefined) => (v === null || v === undefined ? "—" : v.toFixed(3));
const fmtCi = (ci: [number, number] | null) => (ci ? `${ci[0].toFixed(3)}–${ci[1].toFixed(3)}` : "—");
const sourceLine = (r: EvaluationJson["references"][number]) =>
  `${r.name}: ${r.source}${r.note ? ` (${r.note})` : ""}`;

/** A chart that renders itself in Jupyter: Vega-Lite where the front end can, SVG otherwise. */
export interface VegaChart {
  /** The Vega-Lite v5 specification. */
  spec: Record<string, unknown>;
  /** The same chart as SVG. */
  svg: string;
}

/**
 * An evaluation's numbers (`json`, what `--out` writes) and ROC curves, with renderings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { evaluateScores } from "./evaluate.ts";
 * import { JUPYTER_DISPLAY } from "../display.ts";
 * const r = evaluateScores([0.9, 0.1, 0.2, 0.8], [1, 0, 0, 1], ["Mass"], { bootstrap: 0 });
 * assert.match(r.formatTable(), /Mass\s+1\.000/);
 * const bundle = r[JUPYTER_DISPLAY]();
 * assert.match(bundle["text/html"], /<table/);
 * assert.match(bundle["text/html"], /<svg/);
 * ```
 */
export class EvaluationReport {
  /** @param curves ROC curve per class, `null` where undefined. */
  constructor(readonly json: EvaluationJson, readonly curves: Readonly<Record<string, RocCurve | null>>) {}

  /** The metrics document (so `JSON.stringify(report)` writes it). */
  toJSON(): EvaluationJson {
    return this.json;
  }

  /** Per-class rows: AUROC, interval, positives/negatives, and the references. */
  #rows(): { name: string; cells: string[] }[] {
    return Object.entries(this.json.classes).map(([name, m]) => ({
      name,
      cells: [
        fmt(m.auroc),
        fmtCi(m.ci),
        `${m.positives}/${m.negatives}`,
        ...this.json.references.map((r) => fmt(r.perClass[name])),
      ],
    }));
  }

  #meanCells(): string[] {
    const j = this.json;
    const refMean = (r: EvaluationJson["references"][number]) => {
      const v = Object.values(r.perClass);
      return v.length ? fmt(v.reduce((a, b) => a + b, 0) / v.length) : "—";
    };
    return [fmt(j.mean.auroc), fmtCi(j.mean.ci), `${j.mean.classes} classes`, ...j.references.map(refMean)];
  }

  #header(): string[] {
    return ["AUROC", "95% CI", "pos/neg", ...this.json.references.map((r) => r.name)];
  }

  /** A plain-text table for the terminal. */
  formatTable(): string {
    const j = this.json;
    const rows = [...this.#rows().map((r) => [r.name, ...r.cells]), ["mean", ...this.#meanCells()]];
    const resamples = j.bootstrap.resamples
      ? `, ${j.bootstrap.resamples} bootstrap resamples (seed ${j.bootstrap.seed})`
      : "";
    return [
      `model ${j.model.version} (${j.model.engine}) on ${j.partition}: ${j.images} images${resamples}`,
      textTable([["finding", ...this.#header()], ...rows]),
      ...j.references.map(sourceLine),
    ].join("\n");
  }

  /** All defined ROC curves in one SVG chart. */
  rocSvg(): string {
    const curves: Record<string, RocCurve> = {};
    for (const [name, curve] of Object.entries(this.curves)) {
      if (curve) curves[`${name} (${fmt(this.json.classes[name]?.auroc)})`] = curve;
    }
    return rocSvg(curves, { title: `ROC curves, ${this.json.partition} (${this.json.images} images)` });
  }

  /** A dot chart of per-class AUROC (with intervals) beside the references, as SVG. */
  comparisonSvg(): string {
    const classes = Object.entries(this.json.classes), names = classes.map(([name]) => name);
    const left = 130, top = 30, plot = 300, row = 18;
    const width = left + plot + 30, height = top + names.length * row + 50;
    const x = (v: number) => (left + (v - 0.4) / 0.6 * plot).toFixed(1);
    const series = [
      { name: "this model", color: "#d62728", get: (n: string) => this.json.classes[n]?.auroc ?? null },
      ...this.json.references.map((r, i) => ({
        name: r.name,
        color: ["#1f77b4", "#7f7f7f", "#2ca02c"][i % 3],
        get: (n: string) => r.perClass[n] ?? null,
      })),
    ];
    const parts = [
      svgOpen(width, height),
      `<rect width="${width}" height="${height}" fill="white"/>`,
      `<text x="${left}" y="16" font-size="13" font-weight="bold">AUROC per finding</text>`,
    ];
    for (const t of [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]) {
      parts.push(
        `<line x1="${x(t)}" y1="${top}" x2="${x(t)}" y2="${top + names.length * row}" stroke="#ddd"/>`,
        `<text x="${x(t)}" y="${top + names.length * row + 14}" text-anchor="middle">${t.toFixed(1)}</text>`,
      );
    }
    classes.forEach(([name, { ci }], i) => {
      const y = top + i * row + row / 2;
      parts.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end">${escapeHtml(name)}</text>`);
      if (ci) {
        parts.push(
          `<line x1="${x(ci[0])}" y1="${y}" x2="${x(ci[1])}" y2="${y}" stroke="#d62728" opacity="0.5"/>`,
        );
      }
      for (const s of series) {
        const v = s.get(name);
        if (v !== null) {
          parts.push(`<circle cx="${x(Math.max(0.4, v))}" cy="${y}" r="3.5" fill="${s.color}"/>`);
        }
      }
    });
    series.forEach((s, i) => {
      const lx = left + i * 100, ly = top + names.length * row + 34;
      parts.push(
        `<circle cx="${lx}" cy="${ly}" r="4" fill="${s.color}"/>`,
        `<text x="${lx + 8}" y="${ly + 4}">${escapeHtml(s.name)}</text>`,
      );
    });
    parts.push("</svg>");
    return parts.join("\n");
  }

  /**
   * The ROC curves as a Vega-Lite chart for Jupyter, with the same chart as SVG in the same MIME bundle:
   * Vega-Lite is drawn by JavaScript fetched from a CDN, so HTML reports (nbconvert, offline) show the SVG.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { evaluateScores } from "./evaluate.ts";
   * import { JUPYTER_DISPLAY } from "../display.ts";
   * const r = evaluateScores([0.9, 0.1, 0.2, 0.8], [1, 0, 0, 1], ["Mass"], { bootstrap: 0 });
   * const bundle = r.rocChart()[JUPYTER_DISPLAY]();
   * assert.ok(bundle["application/vnd.vegalite.v5+json"]);
   * assert.match(bundle["image/svg+xml"] as string, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg".*<\/svg>$/s);
   * ```
   */
  rocChart(): VegaChart & { [JUPYTER_DISPLAY](): Record<string, unknown> } {
    const values: { finding: string; fpr: number; tpr: number }[] = [];
    for (const [finding, curve] of Object.entries(this.curves)) {
      if (!curve) continue;
      const c = thinCurve(curve, 200);
      c.fpr.forEach((fpr, k) => values.push({ finding, fpr, tpr: c.tpr[k]! }));
    }
    const spec = {
      $schema: "https://vega.github.io/schema/vega-lite/v5.json",
      title: `ROC curves, ${this.json.partition}`,
      width: 320,
      height: 320,
      data: { values },
      mark: { type: "line", interpolate: "step-after" },
      encoding: {
        x: { field: "fpr", type: "quantitative", title: "false positive rate" },
        y: { field: "tpr", type: "quantitative", title: "true positive rate" },
        color: { field: "finding", type: "nominal" },
        order: { field: "fpr", type: "quantitative" },
      },
    };
    const svg = this.rocSvg();
    return withDisplay({ spec, svg }, () => ({
      "application/vnd.vegalite.v5+json": spec,
      "image/svg+xml": svg,
      "text/plain": `ROC curves of ${values.length} points`,
    }));
  }

  /** The HTML table (with the references' sources). */
  htmlTable(): string {
    const rows = [
      ...this.#rows().map((r) => [{ text: r.name }, ...r.cells]),
      { cells: [{ text: "mean" }, ...this.#meanCells()], style: "font-weight:bold" },
    ];
    const j = this.json;
    const model = `<code>${escapeHtml(j.model.version)}</code> (${escapeHtml(j.model.engine)})`;
    const table = htmlTable(["finding", ...this.#header()], rows, {
      className: "cxr-eval",
      cellStyle: "text-align:right",
    });
    const sources = j.references.map((r) => escapeHtml(sourceLine(r))).join("<br>");
    return `<p>Model ${model} on <b>${escapeHtml(j.partition)}</b>: ${j.images} images.</p>${table}` +
      `<p style="font-size:smaller">${sources}</p>`;
  }

  /** Jupyter display: the HTML table and both SVG charts, plus the text table. */
  [JUPYTER_DISPLAY](): { "text/html": string; "text/plain": string } {
    return {
      "text/html": `${this.htmlTable()}<div>${this.rocSvg()}</div><div>${this.comparisonSvg()}</div>`,
      "text/plain": this.formatTable(),
    };
  }

  /**
   * Writes `roc.svg`, `auroc.svg` and `metrics.json` into `dir` (created if missing).
   *
   * @returns The paths written.
   */
  async writeCharts(dir: string): Promise<string[]> {
    await mkdir(dir, { recursive: true });
    const files = {
      "roc.svg": this.rocSvg(),
      "auroc.svg": this.comparisonSvg(),
      "metrics.json": JSON.stringify(this.json, null, 2) + "\n",
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    return Object.keys(files).map((name) => join(dir, name));
  }
}
