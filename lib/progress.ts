/**
 * Progress display for long work (downloads, uploads, preprocessing, training, evaluation).
 *
 * Library functions report through an `onProgress` callback; the CLI and notebooks turn those events into
 * a {@linkcode Progress}. Where it draws is picked from the surroundings: a bar redrawn in place on a
 * terminal, one live-updating display in a Jupyter notebook (Deno's kernel), and plain periodic lines
 * everywhere else (CI logs, pipes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const p = new Progress({ label: "upload", total: 4, mode: "lines", write: (s) => lines.push(s), intervalMs: 0 });
 * p.advance(2);
 * p.advance(2);
 * p.finish();
 * assert.match(lines.at(-1)!, /upload 4\/4 100%/);
 * ```
 *
 * @module
 */
import { escapeHtml } from "./display.ts";

/** Where a {@linkcode Progress} draws. */
export type ProgressMode = "tty" | "lines" | "jupyter" | "none";

/** Options of {@linkcode Progress}. */
export interface ProgressOptions {
  /** What is being done, e.g. `"download images_001.tar.gz"`. */
  label: string;
  /** Amount of work when known. */
  total?: number | undefined;
  /** How amounts are shown. @default "items" */
  unit?: "items" | "bytes" | undefined;
  /**
   * What one item is called when the rate drops below one per second and is shown as time per item
   * (`3.2 s/step` rather than `0/s`). @default "item"
   */
  itemName?: string | undefined;
  /** Where to draw. @default picked: "jupyter" in Deno's kernel, "tty" when stderr is a terminal, else "lines" */
  mode?: ProgressMode | undefined;
  /** Sink for `tty` and `lines` modes. @default writes to stderr */
  write?: ((text: string) => void) | undefined;
  /** Least time between two redraws. @default 100 on a terminal or in Jupyter, 5000 for lines */
  intervalMs?: number | undefined;
}

type Jupyter = { broadcast(type: string, content: Record<string, unknown>): Promise<void> | undefined };

function jupyter(): Jupyter | undefined {
  try {
    // Accessing Deno.jupyter throws outside `deno jupyter`.
    return (Deno as unknown as { jupyter?: Jupyter }).jupyter;
  } catch {
    return undefined;
  }
}

/**
 * Whether this code runs in Deno's Jupyter kernel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(inJupyter(), false); // under `deno test`
 * ```
 */
export function inJupyter(): boolean {
  return jupyter() !== undefined;
}

/**
 * Sends a `display_data` or `update_display_data` message to the notebook; does nothing outside Jupyter and
 * never throws, since a display that fails must never fail the work it shows. (Deno 2.9's broadcast returns
 * undefined rather than a promise.)
 *
 * @example
 * ```ts
 * broadcastDisplay("display_data", { data: { "text/plain": "hi" }, metadata: {}, transient: { display_id: "x" } });
 * ```
 */
export function broadcastDisplay(
  type: "display_data" | "update_display_data",
  content: Record<string, unknown>,
): void {
  try {
    Promise.resolve(jupyter()?.broadcast(type, content)).catch(() => {});
  } catch { /* the kernel went away: keep working without a display */ }
}

/**
 * Formats an amount for display.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(formatAmount(1536, "bytes"), "1.5 KiB");
 * assert.equal(formatAmount(45079862784, "bytes"), "42.0 GiB");
 * assert.equal(formatAmount(112120, "items"), "112120");
 * ```
 */
export function formatAmount(n: number, unit: "items" | "bytes"): string {
  if (unit === "items") return String(Math.round(n));
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * Formats a rate: amounts per second, or, below one item per second, seconds per item (`3.2 s/step`)
 * so that a slow step never reads as `0/s`.
 *
 * @param perSecond amount done per second (items or bytes).
 * @param unit how amounts are shown.
 * @param itemName what one item is called in `s/<item>`.
 * @returns the rate, or `""` when nothing was done yet.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(formatRate(12.4, "items"), "12/s");
 * assert.equal(formatRate(1 / 3.2, "items", "step"), "3.2 s/step");
 * assert.equal(formatRate(1 / 75, "items"), "75 s/item");
 * assert.equal(formatRate(2.5 * 1048576, "bytes"), "2.5 MiB/s");
 * assert.equal(formatRate(0.25, "bytes"), "0.25 B/s");
 * assert.equal(formatRate(0, "items"), "");
 * ```
 */
export function formatRate(perSecond: number, unit: "items" | "bytes", itemName = "item"): string {
  if (!(perSecond > 0) || !Number.isFinite(perSecond)) return "";
  if (unit === "bytes") {
    return perSecond < 1024
      ? `${Number(perSecond.toPrecision(2))} B/s`
      : `${formatAmount(perSecond, unit)}/s`;
  }
  if (perSecond >= 1) return `${formatAmount(perSecond, unit)}/s`;
  const seconds = 1 / perSecond;
  return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s/${itemName}`;
}

/**
 * Formats seconds as `1h02m`, `3m05s` or `12s`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(formatDuration(185), "3m05s");
 * assert.equal(formatDuration(3725), "1h02m");
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

let displayCounter = 0;

/** A progress display; see the module doc. */
export class Progress {
  readonly label: string;
  #total: number | undefined;
  #done = 0;
  #unit: "items" | "bytes";
  #itemName: string;
  #mode: ProgressMode;
  #write: (text: string) => void;
  #interval: number;
  #start = performance.now();
  #lastDraw = -Infinity;
  #displayId = `cxr-progress-${Date.now()}-${displayCounter++}`;
  #shown = false;
  #finished = false;
  #note = "";

  constructor(options: ProgressOptions) {
    this.label = options.label;
    this.#total = options.total;
    this.#unit = options.unit ?? "items";
    this.#itemName = options.itemName ?? "item";
    let isTty = false;
    try {
      isTty = Deno.stderr.isTerminal();
    } catch { /* no stderr to ask: not a terminal */ }
    this.#mode = options.mode ?? (inJupyter() ? "jupyter" : isTty ? "tty" : "lines");
    const encoder = new TextEncoder();
    this.#write = options.write ?? ((s) => Deno.stderr.writeSync(encoder.encode(s)));
    this.#interval = options.intervalMs ?? (this.#mode === "lines" ? 5000 : 100);
  }

  /** Work done so far. */
  get done(): number {
    return this.#done;
  }

  /** Sets the amount done (and the total, if it became known). */
  update(done: number, total?: number, note?: string): void {
    this.#done = done;
    if (total !== undefined) this.#total = total;
    if (note !== undefined) this.#note = note;
    this.#maybeDraw();
  }

  /** Adds `n` to the amount done. */
  advance(n = 1, note?: string): void {
    this.update(this.#done + n, undefined, note);
  }

  /** Draws the final state (with an optional closing message) and stops drawing. */
  finish(message?: string): void {
    if (this.#finished) return;
    if (message !== undefined) this.#note = message;
    this.#draw(true);
    this.#finished = true;
  }

  /** The current state as one line of text. */
  text(): string {
    const elapsed = (performance.now() - this.#start) / 1000;
    const rate = elapsed > 0 ? this.#done / elapsed : 0;
    const parts = [this.label];
    if (this.#total !== undefined && this.#total > 0) {
      const pct = Math.min(100, Math.floor((this.#done / this.#total) * 100));
      parts.push(`${formatAmount(this.#done, this.#unit)}/${formatAmount(this.#total, this.#unit)} ${pct}%`);
      const eta = rate > 0 ? (this.#total - this.#done) / rate : NaN;
      if (!this.#finished && this.#done < this.#total && Number.isFinite(eta)) {
        parts.push(`eta ${formatDuration(eta)}`);
      }
    } else {
      parts.push(formatAmount(this.#done, this.#unit));
    }
    const speed = formatRate(rate, this.#unit, this.#itemName);
    if (speed) parts.push(speed);
    parts.push(formatDuration(elapsed));
    if (this.#note) parts.push(this.#note);
    return parts.join(" ");
  }

  #bar(width: number): string {
    if (!this.#total) return "";
    const filled = Math.round(Math.min(1, this.#done / this.#total) * width);
    return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] `;
  }

  #maybeDraw(): void {
    if (this.#finished) return;
    const now = performance.now();
    if (now - this.#lastDraw < this.#interval) return;
    this.#lastDraw = now;
    this.#draw(false);
  }

  #draw(final: boolean): void {
    if (this.#finished || this.#mode === "none") return;
    const text = this.text();
    if (this.#mode === "tty") {
      this.#write(`\r\x1b[2K${this.#bar(30)}${text}${final ? "\n" : ""}`);
    } else if (this.#mode === "lines") {
      this.#write(`${text}\n`);
    } else {
      const pct = this.#total ? Math.min(100, (this.#done / this.#total) * 100) : 0;
      const html = `<div style="font-family:monospace"><progress value="${pct.toFixed(1)}" max="100" ` +
        `style="width:40%"></progress> ${escapeHtml(text)}</div>`;
      broadcastDisplay(this.#shown ? "update_display_data" : "display_data", {
        data: { "text/plain": text, "text/html": html },
        metadata: {},
        transient: { display_id: this.#displayId },
      });
      this.#shown = true;
    }
  }
}
