/**
 * The settings as a two-column table for notebooks, secrets as `***` (through `settingsRows`).
 *
 * @module
 */
import { type Settings, settingsRows } from "../config.ts";
import { escapeHtml, htmlTable, JUPYTER_DISPLAY } from "../display.ts";

/** A displayable settings table: `rows` as `settingsRows` gives them, HTML in Jupyter. */
export interface SettingsTable {
  /** `[name, value]` pairs, secrets `***`. */
  rows: [string, string][];
  /** `name  value` lines. */
  toString(): string;
}

/**
 * Wraps the settings for display: a table in Jupyter, aligned lines as text. No secret reaches either.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * const t = settingsTable(loadSettings({ env: { CXR_SCORING_KEY: "scoring-key-0123456789" }, envFile: false }));
 * assert.ok(t.rows.some(([k, v]) => k === "scoringKey" && v === "***"));
 * assert.ok(!String(t).includes("scoring-key-0123456789"));
 * ```
 */
export function settingsTable(settings: Settings): SettingsTable {
  const rows = settingsRows(settings);
  const width = Math.max(...rows.map(([k]) => k.length));
  const text = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
  const html = htmlTable(
    ["setting", "value"],
    rows.map(([k, v]) => [{ html: `<code>${escapeHtml(k)}</code>` }, v]),
  );
  return {
    rows,
    toString: () => text,
    [JUPYTER_DISPLAY]: () => ({ "text/html": html, "text/plain": text }),
  } as SettingsTable;
}
