/**
 * Data flows one way: nih -> storage -> images -> model -> train -> eval -> serve -> docker -> k8s. A folder of
 * lib/ may import the shared top-level modules and the folders before it, never one after it; only the CLI,
 * the demo and lib/mod.ts see everything.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";

/** The steps in data-flow order; `vm` (set-up) and `report` (notebook runner) sit beside the chain. */
const CHAIN = ["nih", "storage", "images", "model", "train", "eval", "serve", "docker", "k8s"];
const SIDE: Record<string, string[]> = { vm: [], report: [] };
const SEES_ALL = new Set(["cli", "demo", "(top)"]);

function* tsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* tsFiles(path);
    else if (path.endsWith(".ts")) yield path;
  }
}

/** The lib folder a file belongs to: "nih", "cli", ... or "(top)" for lib/*.ts. */
function folderOf(file: string): string {
  const [folder = "", ...rest] = relative(join(REPO_ROOT, "lib"), file).split("/");
  return rest.length === 0 ? "(top)" : folder;
}

function allowed(from: string, to: string): boolean {
  if (from === to || SEES_ALL.has(from)) return true;
  if (to === "(top)") return true; // config.ts, progress.ts: shared by all (lib/mod.ts is checked below)
  const side = SIDE[from];
  if (side) return side.includes(to);
  const i = CHAIN.indexOf(from);
  const j = CHAIN.indexOf(to);
  return i >= 0 && j >= 0 && j < i;
}

Deno.test("no lib folder imports a later step, the CLI or the notebook runner", () => {
  const problems: string[] = [];
  const lib = join(REPO_ROOT, "lib");
  for (const file of tsFiles(lib)) {
    if (file.endsWith("_test.ts")) continue;
    const text = readFileSync(file, "utf8");
    for (const [, spec = ""] of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(lib)) continue;
      const from = folderOf(file);
      const to = folderOf(target);
      if (to === "(top)" && target.endsWith("/lib/mod.ts") && from !== "(top)" && from !== "demo") {
        problems.push(`${relative(REPO_ROOT, file)} imports lib/mod.ts (import the folder you need instead)`);
      } else if (!allowed(from, to)) {
        problems.push(`${relative(REPO_ROOT, file)} (${from}) imports ${spec} (${to})`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("the layering rule itself rejects a backwards import", () => {
  assert.equal(allowed("storage", "nih"), true);
  assert.equal(allowed("nih", "storage"), false);
  assert.equal(allowed("serve", "docker"), false);
  assert.equal(allowed("docker", "k8s"), false);
  assert.equal(allowed("k8s", "docker"), true);
  assert.equal(allowed("report", "nih"), false);
  assert.equal(allowed("cli", "k8s"), true);
});
