/**
 * The Jupyter notebook file format (nbformat 4) as far as the report runner needs it: reading a notebook
 * with errors that say where, and scrubbing secrets from every string in it.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { jsonErrorPosition } from "../json_position.ts";
import { redactSecrets } from "../secrets.ts";
import { NotebookSyntaxError } from "./errors.ts";

/** Multi-line text as nbformat stores it: one string, or a list of lines. */
export type MultilineText = string | string[];

/** One output of a code cell. */
export interface NotebookOutput {
  /** `stream`, `display_data`, `execute_result` or `error`. */
  output_type: string;
  /** Stream name (`stdout`, `stderr`) for `stream` outputs. */
  name?: string;
  /** Stream text. */
  text?: MultilineText;
  /** MIME bundle of `display_data` / `execute_result`. */
  data?: Record<string, unknown>;
  /** Error name of an `error` output. */
  ename?: string;
  /** Error value (message) of an `error` output. */
  evalue?: string;
  /** Other fields (metadata, execution_count, traceback) kept as they are. */
  [key: string]: unknown;
}

/** One cell. */
export interface NotebookCell {
  /** `code`, `markdown` or `raw`. */
  cell_type: string;
  /** The cell's text. */
  source: MultilineText;
  /** Cell metadata; `tags` marks the `parameters` cell. */
  metadata: { tags?: string[]; [key: string]: unknown };
  /** Outputs of a code cell. */
  outputs?: NotebookOutput[];
  /** Execution count of a code cell. */
  execution_count?: number | null;
  /** Other fields (id, attachments). */
  [key: string]: unknown;
}

/** A notebook (nbformat 4). */
export interface Notebook {
  cells: NotebookCell[];
  /** Notebook metadata (kernelspec, language_info). */
  metadata: Record<string, unknown>;
  /** 4. */
  nbformat: number;
  nbformat_minor: number;
}

/**
 * Joins nbformat multi-line text into one string.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(cellText(["a\n", "b"]), "a\nb");
 * assert.equal(cellText("x"), "x");
 * ```
 */
export function cellText(text: MultilineText | undefined): string {
  return Array.isArray(text) ? text.join("") : text ?? "";
}

/**
 * Parses notebook JSON text, checking it is an nbformat 4 notebook.
 *
 * @param text The file's contents.
 * @param file The file name, for error messages.
 * @throws {NotebookSyntaxError} with the line and column of a JSON error, or of a missing `cells` list.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const nb = parseNotebook('{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}', "a.ipynb");
 * assert.equal(nb.cells.length, 0);
 * assert.throws(() => parseNotebook('{\n  "cells" []\n}', "b.ipynb"), /"b.ipynb" at line 2, column 11/);
 * assert.throws(() => parseNotebook('{"nbformat": 3}', "c.ipynb"), /nbformat 4/);
 * ```
 */
export function parseNotebook(text: string, file: string): Notebook {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const { line, column } = jsonErrorPosition(text);
    const what = (e as Error).message.replace(/,? ".*" is not valid JSON$/s, "").replace(
      / in JSON at position.*$/,
      "",
    );
    throw syntaxError(file, line, column, `invalid JSON: ${what}`, e);
  }
  const nb = raw as Partial<Notebook>;
  if (!nb || typeof nb !== "object" || nb.nbformat !== 4 || !Array.isArray(nb.cells)) {
    throw syntaxError(file, 1, 1, "expected an nbformat 4 notebook with a cells list");
  }
  nb.metadata ??= {};
  nb.cells.forEach((c, i) => {
    if (!c || typeof c.cell_type !== "string") {
      throw syntaxError(file, 1, 1, `cell ${i + 1} has no cell_type`);
    }
    c.metadata ??= {};
  });
  return nb as Notebook;
}

function syntaxError(file: string, line: number, column: number, what: string, cause?: unknown) {
  const message = `Cannot read notebook "${file}" at line ${line}, column ${column}: ${what}`;
  return new NotebookSyntaxError(message, file, line, column, cause === undefined ? undefined : { cause });
}

/**
 * Reads a notebook file.
 *
 * @throws {NotebookSyntaxError} if it is not a notebook; the file system's error if it cannot be read.
 */
export function readNotebook(path: string): Notebook {
  return parseNotebook(readFileSync(path, "utf8"), path);
}

/**
 * Returns a copy of any JSON value with {@linkcode redactSecrets} applied to every string in it: cell
 * sources, stream text, every MIME type of rich outputs, error values and tracebacks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerSecret } from "../secrets.ts";
 * registerSecret("top-secret-value-42");
 * const nb = { cells: [{ cell_type: "code", source: ["x"], metadata: {},
 *   outputs: [{ output_type: "stream", text: ["key top-secret-value-42\n"] }] }] };
 * assert.equal(JSON.stringify(redactDeep(nb)).includes("top-secret-value-42"), false);
 * assert.deepEqual(redactDeep({ n: 1, b: true, z: null }), { n: 1, b: true, z: null });
 * ```
 */
export function redactDeep<T>(value: T): T {
  if (typeof value === "string") return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v)) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
  }
  return value;
}
