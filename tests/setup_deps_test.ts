/**
 * Every program and Python module the tests, the demo and the benches start is installed by the set-up that
 * `./run` sources, so `./run test` passes on a fresh Debian machine and not only on one that happens to have
 * it (as once with /usr/bin/chromium). The set-up scripts are scripts/setup.sh (its package lists, per task)
 * and scripts/services.sh (the Docker packages, which stay there): a package named in either counts.
 *
 * The scan reads the string literals and the calls of the sources (comments are documentation, not run):
 * absolute program paths (`/usr/bin/X`, `/usr/sbin/X`, `/bin/X`, `/sbin/X`), program names passed to
 * `new Deno.Command(...)`, `spawn`/`spawnSync`/`execFile` and the doctor's `env.run(...)`, Python modules
 * imported by Python snippets (`python3 -c "import nbclient"`, `-m nbconvert`) and by the `.py` files that
 * tests and the demo execute. Each program and module must be classified below: installed by a named Debian
 * package, part of Debian's base, or only probed for; an unclassified one fails the test until someone says
 * which package brings it.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { REPO_ROOT } from "./_fixtures.ts";

/** The Debian package that installs each program (`dpkg -S` on Debian 12). */
const PROGRAM_PACKAGES: Record<string, string> = {
  chromium: "chromium",
  python3: "python3",
  jupyter: "jupyter-core",
  git: "git",
  openssl: "openssl",
  ss: "iproute2",
  wrk: "wrk",
  docker: "docker.io",
  dockerd: "docker.io",
  "docker-registry": "docker-registry",
  debootstrap: "debootstrap",
  tini: "tini",
};
/** Programs of Debian's base system (essential or required priority): present everywhere, never listed. */
const BASE_PROGRAMS = new Set(["bash", "sh", "env", "tar", "gzip", "ldconfig", "sleep"]);
/** Programs named but not needed: probed for (their absence is a finding the code reports), or fakes. */
const NOT_NEEDED_PROGRAMS: Record<string, string> = {
  "nvidia-smi": "GPU checks (doctor, the training image's gpu-smoke); CI machines have no GPU",
  nvcc: "CUDA toolkit check of the doctor",
  az: "Azure CLI: the doctor and `cxr setup` report it missing and print the az commands",
  deno: "only a fake kernelspec's argv in lib/vm tests; Deno itself runs as Deno.execPath()",
  "no-such-program-here": "lib/vm/environment_test.ts checks that a missing program answers 127",
};
/** The Debian package that installs each Python module (`dpkg -S` of the module's `__init__.py`). */
const MODULE_PACKAGES: Record<string, string> = {
  nbclient: "python3-nbclient",
  nbconvert: "python3-nbconvert",
  nbformat: "python3-nbformat",
  notebook: "python3-notebook",
  jupyter_client: "python3-jupyter-client",
  sklearn: "python3-sklearn",
  pydicom: "python3-pydicom",
  cv2: "python3-opencv",
  PIL: "python3-pil",
  numpy: "python3-numpy",
  torch: "python3-torch",
  torchvision: "python3-torchvision",
};
/** Python's standard library: comes with the python3 package. */
const PYTHON_STDLIB = new Set([
  "argparse",
  "asyncio",
  "json",
  "math",
  "os",
  "queue",
  "random",
  "re",
  "sys",
  "time",
]);

/** What a set of sources starts: program or module name -> the files that start it. */
interface Needs {
  programs: Map<string, Set<string>>;
  modules: Map<string, Set<string>>;
}

function add(map: Map<string, Set<string>>, name: string, file: string) {
  if (!map.has(name)) map.set(name, new Set());
  map.get(name)!.add(file);
}

/** Splits TypeScript into its code without comments (string literals kept) and its string literals' text. */
function lex(src: string): { code: string; strings: string[] } {
  const strings: string[] = [];
  let code = "";
  let i = 0;
  const unescape = (s: string) => s.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c === "t" ? "\t" : c));
  // deno-lint-ignore prefer-const
  let readTemplate: () => void;
  const readCode = (stopAtBrace: boolean) => {
    let depth = 0;
    while (i < src.length) {
      const c = src[i];
      const next = src[i + 1];
      if (c === "/" && next === "/") {
        while (i < src.length && src[i] !== "\n") i++;
      } else if (c === "/" && next === "*") {
        const end = src.indexOf("*/", i + 2);
        i = end < 0 ? src.length : end + 2;
        code += " ";
      } else if (c === '"' || c === "'") {
        let j = i + 1;
        while (j < src.length && src[j] !== c && src[j] !== "\n") j += src[j] === "\\" ? 2 : 1;
        strings.push(unescape(src.slice(i + 1, j)));
        code += src.slice(i, j + 1);
        i = j + 1;
      } else if (c === "`") {
        readTemplate();
      } else if (c === "/" && /[(,=:[!&|?{};+\-*%<>~^]$|^$|\breturn$/.test(code.trimEnd())) {
        // A regular expression literal: skip to its closing slash (outside a character class).
        let j = i + 1;
        let inClass = false;
        while (j < src.length && src[j] !== "\n" && (inClass || src[j] !== "/")) {
          if (src[j] === "\\") j++;
          else if (src[j] === "[") inClass = true;
          else if (src[j] === "]") inClass = false;
          j++;
        }
        code += src.slice(i, j + 1);
        i = j + 1;
      } else {
        if (c === "{") depth++;
        if (c === "}") {
          if (stopAtBrace && depth === 0) return;
          depth--;
        }
        code += c;
        i++;
      }
    }
  };
  readTemplate = () => {
    let piece = "";
    code += "`";
    i++;
    while (i < src.length && src[i] !== "`") {
      if (src[i] === "\\") {
        piece += src.slice(i, i + 2);
        i += 2;
      } else if (src[i] === "$" && src[i + 1] === "{") {
        strings.push(unescape(piece));
        code += piece + "${";
        piece = "";
        i += 2;
        readCode(true);
        code += "}";
        i++;
      } else {
        piece += src[i++];
      }
    }
    strings.push(unescape(piece));
    code += piece + "`";
    i++;
  };
  readCode(false);
  return { code, strings };
}

/** The text before the first `separator` (all of it when there is none). */
const before = (text: string, separator: RegExp | string): string => text.split(separator)[0] ?? text;

/** Top-level modules imported by Python source text (statements split at newlines and semicolons). */
function pythonImports(text: string): string[] {
  const found: string[] = [];
  for (const statement of text.split(/[\n;]/).map((s) => s.trim())) {
    const [, plain] =
      /^import\s+([A-Za-z_][\w.]*(?:\s+as\s+\w+)?(?:\s*,\s*[A-Za-z_][\w.]*(?:\s+as\s+\w+)?)*)$/
        .exec(statement) ?? [];
    if (plain) found.push(...plain.split(",").map((m) => before(m.trim(), /\s/)));
    const [, from] = /^from\s+([A-Za-z_][\w.]*)\s+import\s+[\w*(]/.exec(statement) ?? [];
    if (from) found.push(from);
  }
  return found.map((m) => before(m, "."));
}

/**
 * What one source file starts: programs and Python modules.
 *
 * @param file its path, for the report.
 * @param text its content: TypeScript, Python (`.py`) or a notebook (`.ipynb`, its code cells are TypeScript).
 */
function scanSource(file: string, text: string, needs: Needs = { programs: new Map(), modules: new Map() }) {
  if (file.endsWith(".py")) {
    for (const m of pythonImports(text)) add(needs.modules, m, file);
    return needs;
  }
  if (file.endsWith(".ipynb")) {
    const cells: { cell_type: string; source: string | string[] }[] = JSON.parse(text).cells;
    text = cells.filter((c) => c.cell_type === "code").map((c) => [c.source].flat().join("")).join("\n");
  }
  const { code, strings } = lex(text);
  // Python snippets only where the code runs Python: elsewhere "import keras" is a CLI command's name.
  const runsPython = /python/i.test(code);
  for (const s of strings) {
    for (const [, program = ""] of s.matchAll(/(?:^|[\s"'=:])\/(?:usr\/)?s?bin\/([\w.+-]+)/g)) {
      add(needs.programs, program, file);
    }
    if (runsPython) { for (const m of pythonImports(s)) add(needs.modules, m, file); }
  }
  const call =
    /\b(?:new\s+Deno\.Command|spawn|spawnSync|execFile|execFileSync|env\.run)\(\s*(["'`])([^"'`]+)\1/g;
  for (const [, , command = ""] of code.matchAll(call)) {
    add(needs.programs, command.slice(command.lastIndexOf("/") + 1), file);
  }
  for (const [, module = ""] of code.matchAll(/["'`]-m["'`],\s*["'`]([\w.]+)["'`]/g)) {
    add(needs.modules, before(module, "."), file);
  }
  return needs;
}

/**
 * The problems with `needs` against the Debian packages a set-up installs: a program or module that no
 * listed package brings, or that is not classified at all.
 */
function missingPackages(needs: Needs, installed: Set<string>): string[] {
  const problems: string[] = [];
  const where = (files: Set<string>) => [...files].sort().join(", ");
  for (const [name, files] of [...needs.programs].sort()) {
    if (BASE_PROGRAMS.has(name) || name in NOT_NEEDED_PROGRAMS) continue;
    const pkg = PROGRAM_PACKAGES[name];
    if (!pkg) problems.push(`program ${name} (${where(files)}) is not in PROGRAM_PACKAGES: which package?`);
    else if (!installed.has(pkg)) {
      problems.push(`program ${name} (${where(files)}): package ${pkg} is not installed`);
    }
  }
  for (const [name, files] of [...needs.modules].sort()) {
    const pkg = PYTHON_STDLIB.has(name) ? "python3" : MODULE_PACKAGES[name];
    if (!pkg) {
      problems.push(`Python module ${name} (${where(files)}) is not in MODULE_PACKAGES: which package?`);
    } else if (!installed.has(pkg)) {
      problems.push(`Python module ${name} (${where(files)}): package ${pkg} is not installed`);
    }
  }
  return problems;
}

/** The words of a bash array assignment `NAME=(...)` in a script, comments dropped. */
function bashArray(script: string, name: string): string[] {
  const code = script.split("\n").map((l) => l.replace(/(^|\s)#.*$/, "")).join("\n");
  const [, words] = new RegExp(`^${name}=\\(([^)]*)\\)`, "m").exec(code) ?? [];
  assert.ok(words !== undefined, `no ${name}=(...) in the set-up script`);
  return words.split(/\s+/).filter(Boolean);
}

function* files(dir: string, ext: RegExp): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path, ext);
    else if (ext.test(name)) yield path;
  }
}

function scanTree(paths: string[], skip: Set<string>): Needs {
  const needs: Needs = { programs: new Map(), modules: new Map() };
  for (const path of paths) {
    const rel = relative(REPO_ROOT, path);
    if (!skip.has(rel)) scanSource(rel, readFileSync(path, "utf8"), needs);
  }
  return needs;
}

const setup = readFileSync(join(REPO_ROOT, "scripts/setup.sh"), "utf8");
const services = readFileSync(join(REPO_ROOT, "scripts/services.sh"), "utf8");
/** Words of services.sh outside comments: its Docker packages (docker.io, docker-registry, ...). */
const servicesWords = services.split("\n").map((l) => l.replace(/(^|\s)#.*$/, "")).join(" ").split(
  /[^\w.+-]+/,
);
const everyTask = bashArray(setup, "CXR_APT_PACKAGES");
const SKIP = new Set([
  // This file names programs on purpose (the maps above, the snippets of the negative check).
  "tests/setup_deps_test.ts",
  // Regenerates tests/fixtures/train_step_reference.json by hand (PyTorch); tests only read the JSON.
  "tests/fixtures/make_train_step_reference.py",
]);
const TS_OR_PY = /\.(ts|py)$/;

Deno.test("every program and Python module the tests start is installed by ./run test's set-up", () => {
  // The tests run the lib and the notebooks too: all of it, with what only tests start.
  const tests = [
    ...files(join(REPO_ROOT, "tests"), /\.(ts|py|ipynb)$/),
    ...files(join(REPO_ROOT, "lib"), TS_OR_PY),
    ...files(join(REPO_ROOT, "notebooks"), /\.ipynb$/),
  ];
  const needs = scanTree(tests, SKIP);
  assert.ok(
    needs.programs.has("chromium") && needs.modules.has("nbclient"),
    "the scan found nothing it should",
  );
  const installed = new Set([...everyTask, ...bashArray(setup, "CXR_TEST_APT_PACKAGES"), ...servicesWords]);
  assert.deepEqual(missingPackages(needs, installed), []);
});

Deno.test("every program and Python module the lib, the notebooks and the demo start is installed for every task", () => {
  const lib = [...files(join(REPO_ROOT, "lib"), TS_OR_PY)].filter((f) => !f.endsWith("_test.ts"));
  const needs = scanTree([...lib, ...files(join(REPO_ROOT, "notebooks"), /\.ipynb$/)], SKIP);
  assert.ok(needs.programs.has("git") && needs.modules.has("nbformat"), "the scan found nothing it should");
  // The Docker programs come from scripts/services.sh, which ./run starts for test, report and demo.
  assert.deepEqual(missingPackages(needs, new Set([...everyTask, ...servicesWords])), []);
});

Deno.test("everything the benches compare against is installed by ./run bench's set-up", () => {
  const needs = scanTree([...files(join(REPO_ROOT, "bench"), TS_OR_PY)], SKIP);
  assert.ok(
    needs.programs.has("wrk") && needs.modules.has("torchvision"),
    "the scan found nothing it should",
  );
  assert.deepEqual(
    missingPackages(needs, new Set([...everyTask, ...bashArray(setup, "CXR_BENCH_APT_PACKAGES")])),
    [],
  );
});

Deno.test("the scan reports what a set-up lacks, and what nobody classified", () => {
  const snippet = [
    '// new Deno.Command("/usr/bin/ignored-in-a-comment")',
    'const out = await new Deno.Command("/usr/bin/wrk", { args: ["-c", "8"] }).output();',
    'spawnSync("frobnicate", []);',
    "const py = `import json, cv2 as cv\nfrom PIL.Image import open`;",
    'new Deno.Command(PYTHON, { args: ["-m", "nbconvert"] });',
  ].join("\n");
  const needs = scanSource("x_test.ts", snippet);
  assert.deepEqual([...needs.programs.keys()].sort(), ["frobnicate", "wrk"]);
  assert.deepEqual([...needs.modules.keys()].sort(), ["PIL", "cv2", "json", "nbconvert"]);
  assert.deepEqual(missingPackages(needs, new Set(["python3", "python3-pil", "python3-nbconvert"])), [
    "program frobnicate (x_test.ts) is not in PROGRAM_PACKAGES: which package?",
    "program wrk (x_test.ts): package wrk is not installed",
    "Python module cv2 (x_test.ts): package python3-opencv is not installed",
  ]);
  assert.deepEqual(
    missingPackages(
      scanSource("x_test.ts", snippet.replace(/spawnSync.*\n/, "")),
      new Set(["python3", "wrk", "python3-opencv", "python3-pil", "python3-nbconvert"]),
    ),
    [],
  );
  // Python snippets count only where the code runs Python, and JavaScript imports in strings are not Python.
  assert.equal(scanSource("import.ts", 'const command = { name: "import keras" };').modules.size, 0);
  assert.deepEqual(scanSource("y.ts", 'const s = "import assert from \\"node:assert\\"";').modules.size, 0);
  assert.deepEqual([...scanSource("z.py", "import numpy as np\nfrom . import local\n").modules.keys()], [
    "numpy",
  ]);
});

Deno.test("./run installs the test packages only for test and the bench packages only for bench", async () => {
  const asked = async (task: string) => {
    // scripts/setup.sh with its installers replaced by stubs that print the packages asked for.
    const script = 'source scripts/setup.sh "$1"; cxr_ensure_deno() { :; }; cxr_ensure_kernel() { :; }; ' +
      'cxr_ensure_services() { :; }; cxr_ensure_apt() { echo "$*"; }; cxr_setup';
    const out = await new Deno.Command("bash", {
      args: ["-c", script, "_", task],
      cwd: REPO_ROOT,
      stdout: "piped",
    })
      .output();
    assert.ok(out.success);
    return new TextDecoder().decode(out.stdout).trim().split(/\s+/);
  };
  const test = await asked("test");
  const bench = await asked("bench");
  const demo = await asked("demo");
  assert.ok(test.includes("chromium") && !test.includes("wrk"), test.join(" "));
  assert.ok(bench.includes("wrk") && bench.includes("python3-torchvision") && !bench.includes("chromium"));
  assert.deepEqual(demo, everyTask);
  assert.ok(demo.includes("jupyter-core") && demo.includes("git"));
});
