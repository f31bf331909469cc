/**
 * No circles between files of lib/: a module that imports one which imports it back (directly or through
 * others) is evaluated half-initialised, and a reader cannot tell which of the two is the lower layer.
 * Type-only imports count too: they are a circle in the design even when the runtime does not see them.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";

const LIB = join(REPO_ROOT, "lib");

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* tsFiles(path);
    else if (path.endsWith(".ts") && !path.endsWith("_test.ts")) yield path;
  }
}

/** Each lib file's relative imports (static, dynamic and type-only), resolved to absolute paths. */
function importGraph(
  files: Iterable<string>,
  read = (f: string) => readFileSync(f, "utf8"),
): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = read(file).replace(/^\s*\*.*$/gm, ""); // doc comment lines hold example imports
    const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+\.ts)["']/g)]
      .map(([, target]) => resolve(dirname(file), target ?? ""));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Every circle in a graph, each once, as the list of files around it (Tarjan's strongly connected parts). */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const on = new Set<string>();
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const part: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        part.push(w);
      } while (w !== v);
      if (part.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(part.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

Deno.test("no circles between lib files", () => {
  const found = circles(importGraph(tsFiles(LIB))).map((part) => part.map((f) => relative(REPO_ROOT, f)));
  assert.deepEqual(found, []);
});

Deno.test("the circle finder finds a circle of three and ignores a chain", () => {
  const texts: Record<string, string> = {
    "/x/a.ts": 'import { b } from "./b.ts";',
    "/x/b.ts": 'import type { C } from "./c.ts";',
    "/x/c.ts": 'export * from "./a.ts";',
    "/x/d.ts": 'import "./a.ts";',
  };
  assert.deepEqual(circles(importGraph(Object.keys(texts), (f) => texts[f] ?? "")), [[
    "/x/a.ts",
    "/x/b.ts",
    "/x/c.ts",
  ]]);
  delete texts["/x/c.ts"];
  assert.deepEqual(circles(importGraph(Object.keys(texts), (f) => texts[f] ?? "")), []);
});
