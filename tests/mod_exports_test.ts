/**
 * Each step's public surface is its `mod.ts` (as deno_std's `_tools/check_mod_exports.ts`): every public file of
 * a step folder is re-exported there, no private file (`_name.ts`) is, no exported name starting with `_` is
 * reachable, and no two steps export different things under one name (ES modules drop such a name from
 * `export *` silently, which is how lib/mod.ts once lost one).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";

const LIB = join(REPO_ROOT, "lib");

/** Folders that are programs, not libraries: the CLI's commands and the demo have no `mod.ts`. */
const PROGRAMS = new Set(["cli", "demo"]);

/** Public files left out of their `mod.ts` on purpose, each with its reason. */
const NOT_IN_MOD: Record<string, string> = {
  "model/onnx_runtime.ts":
    "loads onnxruntime-node's native addon when imported; import the file where it is used",
  "train/onnx_gradients.ts":
    "loads onnxruntime-node's native addon when imported; train, the gradient workers and the bench import it",
};

function stepFolders(): string[] {
  return readdirSync(LIB).filter((name) => statSync(join(LIB, name)).isDirectory() && !PROGRAMS.has(name))
    .sort();
}

/** The `./x.ts` (or `./dir/x.ts`) paths a `mod.ts` re-exports. */
function reExported(modText: string): Set<string> {
  const out = new Set<string>();
  for (
    const m of modText.matchAll(
      /export\s+(?:\*|type\s+\*|\{[^}]*\}|type\s+\{[^}]*\})\s+from\s+["']\.\/([^"']+)["']/g,
    )
  ) {
    if (m[1]) out.add(m[1]);
  }
  return out;
}

function publicFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!name.startsWith("_") && !existsSync(join(path, "mod.ts"))) {
        out.push(...publicFiles(path, `${prefix}${name}/`));
      } else if (!name.startsWith("_")) out.push(`${prefix}${name}/mod.ts`);
    } else if (
      name.endsWith(".ts") && !name.endsWith("_test.ts") && name !== "mod.ts" && !name.startsWith("_")
    ) {
      out.push(`${prefix}${name}`);
    }
  }
  return out;
}

Deno.test("every step folder has a mod.ts that re-exports each public file and no private one", () => {
  const problems: string[] = [];
  for (const step of stepFolders()) {
    const mod = join(LIB, step, "mod.ts");
    if (!existsSync(mod)) {
      problems.push(`lib/${step}/ has no mod.ts`);
      continue;
    }
    const exported = reExported(readFileSync(mod, "utf8"));
    for (const file of publicFiles(join(LIB, step))) {
      if (!exported.has(file) && !(`${step}/${file}` in NOT_IN_MOD)) {
        problems.push(
          `lib/${step}/${file} is public (no leading _) but lib/${step}/mod.ts does not re-export it`,
        );
      }
    }
    for (const file of exported) {
      if (file.split("/").some((part) => part.startsWith("_"))) {
        problems.push(`lib/${step}/mod.ts re-exports the private file ${file}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("the exceptions to that rule still exist and stay out of their mod.ts", () => {
  for (const file of Object.keys(NOT_IN_MOD)) {
    assert.ok(existsSync(join(LIB, file)), `lib/${file} is listed in NOT_IN_MOD but does not exist`);
    const [step = "", ...rest] = file.split("/");
    assert.ok(!reExported(readFileSync(join(LIB, step, "mod.ts"), "utf8")).has(rest.join("/")));
  }
});

Deno.test("lib/mod.ts is the steps' mod.ts files and nothing else", () => {
  const text = readFileSync(join(LIB, "mod.ts"), "utf8");
  const exported = [...reExported(text)];
  const expected = [
    ...readdirSync(LIB).filter((n) =>
      n.endsWith(".ts") && !n.endsWith("_test.ts") && n !== "mod.ts" && !n.startsWith("_")
    ),
    ...stepFolders().map((step) => `${step}/mod.ts`),
  ];
  assert.deepEqual(exported.sort(), expected.sort());
  assert.doesNotMatch(
    text,
    /export\s*\{[^}]*\bas\b/,
    "lib/mod.ts renames an export by hand: fix the clash at its source",
  );
});

Deno.test("no step exports a name starting with _, and no two steps export different things under one name", async () => {
  const owner = new Map<string, { step: string; value: unknown }>();
  const problems: string[] = [];
  const tops = readdirSync(LIB).filter((n) => n.endsWith(".ts") && !n.endsWith("_test.ts") && n !== "mod.ts");
  const modules = [
    ...tops.filter((n) => !n.startsWith("_")).map((n) => ({ step: n, path: join(LIB, n) })),
    ...stepFolders().map((step) => ({ step, path: join(LIB, step, "mod.ts") })),
  ];
  for (const { step, path } of modules) {
    const names = await import(path) as Record<string, unknown>;
    for (const [name, value] of Object.entries(names)) {
      if (name.startsWith("_")) problems.push(`${step} exports the private name ${name}`);
      const seen = owner.get(name);
      if (seen && seen.value !== value) problems.push(`${name} is exported by both ${seen.step} and ${step}`);
      else if (!seen) owner.set(name, { step, value });
    }
  }
  assert.deepEqual(problems, []);
  const all = await import(join(LIB, "mod.ts")) as Record<string, unknown>;
  assert.deepEqual(
    Object.keys(all).sort(),
    [...owner.keys()].sort(),
    "lib/mod.ts reaches every step's names",
  );
});

Deno.test("private is said by place: no top-level name in lib/, tests/ or bench/ starts with _", () => {
  const problems: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) {
        readFileSync(path, "utf8").split("\n").forEach((line, i) => {
          const m =
            /^(?:export\s+)?(?:declare\s+)?(?:async\s+)?(?:function\*?|const|let|class|interface|type|enum)\s+(_\w+)/
              .exec(line);
          if (m) problems.push(`${path.slice(REPO_ROOT.length + 1)}:${i + 1}: ${m[1]}`);
        });
      }
    }
  };
  for (const top of ["lib", "tests", "bench"]) walk(join(REPO_ROOT, top));
  assert.deepEqual(problems, [], "a private helper is unexported, or lives in a _file.ts; its name has no _");
});
