/**
 * Helpers for tests that execute notebooks on Deno's Jupyter kernel.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import type { Notebook, NotebookCell, NotebookOutput } from "../lib/report/mod.ts";
import { cellText } from "../lib/report/mod.ts";

/** A code cell, optionally tagged. */
export function codeCell(source: string, tags: string[] = []): NotebookCell {
  return {
    cell_type: "code",
    execution_count: null,
    metadata: tags.length ? { tags } : {},
    outputs: [],
    source,
  };
}

/** A markdown cell. */
export function markdownCell(source: string): NotebookCell {
  return { cell_type: "markdown", metadata: {}, source };
}

/** Writes a Deno-kernel notebook with these cells to `path`. */
export function writeNotebook(path: string, cells: NotebookCell[]): string {
  const nb: Notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
    cells,
  };
  writeFileSync(path, JSON.stringify(nb, null, 1));
  return path;
}

/** All text of one output: stream text, every MIME type, error name and value ("" for no output). */
export function outputText(o: NotebookOutput | undefined): string {
  if (o === undefined) return "";
  const parts = [cellText(o.text as string | string[] | undefined), o.ename ?? "", o.evalue ?? ""];
  for (const v of Object.values(o.data ?? {})) {
    parts.push(
      typeof v === "string" || Array.isArray(v) ? cellText(v as string | string[]) : JSON.stringify(v),
    );
  }
  return parts.join("\n");
}

/** The code cells of a notebook, in order. */
export function codeCells(nb: Notebook): NotebookCell[] {
  return nb.cells.filter((c) => c.cell_type === "code");
}

/** A TCP port nothing listens on right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
