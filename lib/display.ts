/**
 * Jupyter display, shared by every step: the key Deno's Jupyter kernel looks for, one HTML/XML escape, and the
 * small builders the summaries use (an HTML and a text table, an SVG opening tag, a non-enumerable display on a plain
 * object, a base64 PNG). Outside Jupyter none of this costs anything.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { htmlTable, JUPYTER_DISPLAY, withDisplay } from "./display.ts";
 * const counts = withDisplay({ Mass: 3 }, () => ({ "text/html": htmlTable(["finding", "images"], [["Mass", "3"]]) }));
 * assert.equal(JSON.stringify(counts), '{"Mass":3}');
 * assert.match(counts[JUPYTER_DISPLAY]()["text/html"], /<td>Mass<\/td><td>3<\/td>/);
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";

/**
 * The key under which Deno's Jupyter kernel looks for a MIME bundle (`Symbol.for("Jupyter.display")`), typed
 * so that `stats[JUPYTER_DISPLAY]()` type-checks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const shown = { [JUPYTER_DISPLAY]: () => ({ "text/plain": "hi" }) };
 * assert.equal(JUPYTER_DISPLAY, Symbol.for("Jupyter.display"));
 * assert.deepEqual(shown[JUPYTER_DISPLAY](), { "text/plain": "hi" });
 * ```
 */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as typeof JUPYTER_DISPLAY;

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes `& < > " '` for HTML text and attribute values; the result is valid XML (SVG) too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(escapeHtml(`a<b & "c" > 'd'`), "a&lt;b &amp; &quot;c&quot; &gt; &#39;d&#39;");
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/**
 * Gives `value` a Jupyter display that is not an own enumerable property, so `JSON.stringify`, spreading and
 * `assert.deepEqual` ignore it.
 *
 * @param value the object to display (changed in place and returned).
 * @param display returns the MIME bundle, called when Jupyter shows the value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const s = withDisplay({ images: 2 }, () => ({ "text/markdown": "**2** images" }));
 * assert.deepEqual(s, { images: 2 });
 * assert.equal(s[JUPYTER_DISPLAY]()["text/markdown"], "**2** images");
 * ```
 */
export function withDisplay<T extends object, B>(value: T, display: () => B): T & { [JUPYTER_DISPLAY](): B } {
  return Object.defineProperty(value, JUPYTER_DISPLAY, { value: display }) as T & { [JUPYTER_DISPLAY](): B };
}

/** A cell of {@linkcode htmlTable} written out: `text` is escaped, `html` used as it is. */
export interface TableCell {
  /** The cell's text (escaped). */
  text?: string;
  /** The cell's HTML, used instead of `text`. */
  html?: string;
  /** A header cell (`<th>`). @default false */
  th?: boolean;
  /** The cell's `style` attribute. @default none, or the table's `cellStyle` for a string cell */
  style?: string;
}

/** A row of {@linkcode htmlTable} with a `style` attribute of its own. */
export interface TableRow {
  /** The cells. */
  cells: (string | TableCell)[];
  /** The row's `style` attribute. */
  style?: string;
}

/** Options of {@linkcode htmlTable}. */
export interface HtmlTableOptions {
  /** The table's `class` attribute. @default none */
  className?: string;
  /** The `style` of every body cell given as a plain string, e.g. `"text-align:right"`. @default none */
  cellStyle?: string;
  /** Text of a `<caption>` after the body (escaped). @default none */
  caption?: string;
}

/**
 * An HTML table: a header row of `head` (none when empty) and one row per entry of `rows`. String cells are
 * escaped `<td>`s; a {@linkcode TableCell} sets its own tag, style or raw HTML; a {@linkcode TableRow} styles
 * its row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const html = htmlTable(["finding", "AUROC"], [
 *   [{ text: "A<B", th: true }, "0.81"],
 *   { cells: ["mean", { html: "<b>0.81</b>" }], style: "color:red" },
 * ], { className: "t", cellStyle: "text-align:right", caption: "2 rows" });
 * assert.equal(
 *   html,
 *   '<table class="t"><thead><tr><th>finding</th><th>AUROC</th></tr></thead><tbody>' +
 *     '<tr><th>A&lt;B</th><td style="text-align:right">0.81</td></tr>' +
 *     '<tr style="color:red"><td style="text-align:right">mean</td><td><b>0.81</b></td></tr>' +
 *     "</tbody><caption>2 rows</caption></table>",
 * );
 * ```
 */
export function htmlTable(
  head: readonly string[],
  rows: readonly (readonly (string | TableCell)[] | TableRow)[],
  options: HtmlTableOptions = {},
): string {
  const attr = (name: string, value: string | undefined) => value === undefined ? "" : ` ${name}="${value}"`;
  const cell = (c: string | TableCell) => {
    const { text = "", html = escapeHtml(text), th = false, style } = typeof c === "string"
      ? { text: c, style: options.cellStyle }
      : c;
    const tag = th ? "th" : "td";
    return `<${tag}${attr("style", style)}>${html}</${tag}>`;
  };
  const body = rows.map((r) => {
    const { cells, style } = "cells" in r ? r : { cells: r, style: undefined };
    return `<tr${attr("style", style)}>${cells.map(cell).join("")}</tr>`;
  });
  const caption = options.caption === undefined ? "" : `<caption>${escapeHtml(options.caption)}</caption>`;
  const thead = head.length
    ? `<thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead>`
    : "";
  return `<table${attr("class", options.className)}>${thead}<tbody>${
    body.join("")
  }</tbody>${caption}</table>`;
}

/**
 * A plain-text table for `text/plain` and terminals: columns padded to their widest cell, two spaces apart,
 * trailing blanks cut.
 *
 * @param rows the rows, header first if any.
 * @param options `align`: per column, `"left"` (the default) or `"right"`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = textTable([["finding", "n"], ["Mass", "12"], ["Hernia", "3"]], { align: ["left", "right"] });
 * assert.equal(text, "finding   n\nMass     12\nHernia    3");
 * ```
 */
export function textTable(
  rows: readonly (readonly string[])[],
  options: { align?: readonly ("left" | "right")[] } = {},
): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((v, j) => widths[j] = Math.max(widths[j] ?? 0, v.length));
  return rows.map((r) =>
    r.map((v, j) => options.align?.[j] === "right" ? v.padStart(widths[j]!) : v.padEnd(widths[j]!)).join("  ")
      .trimEnd()
  ).join("\n");
}

/** Options of {@linkcode svgOpen}. */
export interface SvgOpenOptions {
  /** Font size in pixels. @default 11 */
  fontSize?: number;
  /** Font family. @default "sans-serif" */
  fontFamily?: string;
  /** Add `viewBox="0 0 width height"`, so the drawing scales with its box. @default true */
  viewBox?: boolean;
}

/**
 * The opening `<svg>` tag of a chart: namespace, size, optional view box and font.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   svgOpen(40, 20),
 *   '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20" viewBox="0 0 40 20" ' +
 *     'font-family="sans-serif" font-size="11">',
 * );
 * assert.equal(svgOpen(40, 20, { viewBox: false, fontSize: 12 }).includes("viewBox"), false);
 * ```
 */
export function svgOpen(width: number, height: number, options: SvgOpenOptions = {}): string {
  const box = options.viewBox ?? true ? ` viewBox="0 0 ${width} ${height}"` : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"${box} ` +
    `font-family="${escapeHtml(options.fontFamily ?? "sans-serif")}" font-size="${options.fontSize ?? 11}">`;
}

/**
 * Bytes as base64, e.g. a PNG for an `image/png` MIME bundle entry or a `data:` URL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(base64(new Uint8Array([137, 80, 78, 71])), "iVBORw==");
 * ```
 */
export function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}
