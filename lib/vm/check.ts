/**
 * The shape of one doctor check and small helpers shared by the checks.
 *
 * @module
 */

/** How a check came out: `ok`, `warn` (works, but not as the workflow needs it), `fail` (blocks a step). */
export const CHECK_STATUSES = ["ok", "warn", "fail"] as const;
/** One of {@linkcode CHECK_STATUSES}. */
export type CheckStatus = typeof CHECK_STATUSES[number];

/**
 * A fuller view of a check's finding than its one-line `detail` (the backends' small table): printed under
 * the doctor's table, collapsed in a `<details>` in Jupyter, and serialised with the check in `--json`.
 */
export interface CheckDetails {
  /** Plain text; `verbose` adds what is left out by default (full error messages). */
  toText(options?: { verbose?: boolean | undefined }): string;
  /** HTML for Jupyter. */
  toHtml(): string;
}

/** The result of one check. */
export interface DoctorCheck {
  /** Stable identifier, e.g. `gpu`, `cuda`, `disk`. */
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found, with numbers. */
  detail: string;
  /** What to do about a `warn` or `fail`. */
  fix?: string;
  /** More than fits on one line, shown below the doctor's table (see {@linkcode CheckDetails}). */
  details?: CheckDetails;
}

/**
 * Parses a dotted version into numbers (`"11.4"` → `[11, 4]`); `undefined` if there is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseVersion("release 11.2, V11.2.152"), [11, 2]);
 * assert.equal(parseVersion("none"), undefined);
 * ```
 */
export function parseVersion(text: string): number[] | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  return m ? m.slice(1).filter((x) => x !== undefined).map(Number) : undefined;
}

/**
 * Compares two versions part by part; missing parts count as 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(compareVersions([11, 4], [11, 2]), 1);
 * assert.equal(compareVersions([8, 1], [8, 1, 0]), 0);
 * assert.equal(compareVersions([460, 27], [470, 82, 1]), -1);
 * ```
 */
export function compareVersions(a: readonly number[], b: readonly number[]): -1 | 0 | 1 {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * Formats bytes as decimal gigabytes, the unit disks are sold in (`77.2 GB`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(formatGB(45e9), "45.0 GB");
 * ```
 */
export function formatGB(bytes: number): string {
  return `${(bytes / 1e9).toFixed(1)} GB`;
}
