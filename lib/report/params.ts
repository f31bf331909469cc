/**
 * Notebook parameters, the papermill way, for Deno's kernel: a code cell tagged `parameters` holds the
 * defaults, one declaration per line (`const seed = 42;`), and `deno task report --param seed=7` inserts a
 * cell tagged `injected-parameters` after it that declares the same names again **with the same keyword**:
 * Deno's kernel lets a later cell re-declare a top-level `const` as `const` and a `let` as `let`, but not
 * switch keywords ("Identifier has already been declared"). Nothing else in the notebook may declare them.
 *
 * @module
 */
import type { Notebook, NotebookCell } from "./notebook.ts";
import { cellText } from "./notebook.ts";
import { UnknownParameterError } from "./errors.ts";

/** One default in a `parameters` cell. */
export interface ParameterDeclaration {
  /** The variable name. */
  name: string;
  /** The keyword it is declared with; the injected cell repeats it. */
  keyword: "const" | "let" | "var";
}

/**
 * Splits `name=value` as given to `--param`.
 *
 * @throws {TypeError} if there is no `=` or the name is not an identifier.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseParamArg("seed=7"), ["seed", "7"]);
 * assert.deepEqual(parseParamArg("q=a=b"), ["q", "a=b"]);
 * assert.throws(() => parseParamArg("seed"), /expected name=value/);
 * ```
 */
export function parseParamArg(arg: string): [string, string] {
  const i = arg.indexOf("=");
  const name = i < 0 ? "" : arg.slice(0, i).trim();
  if (i < 0 || !/^[A-Za-z_$][\w$]*$/.test(name)) {
    throw new TypeError(`Cannot read parameter "${arg}": expected name=value with an identifier name`);
  }
  return [name, arg.slice(i + 1)];
}

/**
 * Turns a command-line value into a TypeScript literal: numbers, booleans and `null` stay as they are,
 * JSON objects, arrays and quoted strings are kept as JSON, anything else becomes a string literal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(toTsLiteral("42"), "42");
 * assert.equal(toTsLiteral("-1.5e3"), "-1500");
 * assert.equal(toTsLiteral("true"), "true");
 * assert.equal(toTsLiteral('{"a": [1, 2]}'), '{"a":[1,2]}');
 * assert.equal(toTsLiteral("../data/x"), '"../data/x"');
 * assert.equal(toTsLiteral('say "hi"\n`${x}`'), '"say \\"hi\\"\\n`${x}`"');
 * assert.equal(toTsLiteral("0x10"), '"0x10"');
 * ```
 */
export function toTsLiteral(value: string): string {
  const v = value.trim();
  if (/^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(v) && Number.isFinite(Number(v))) {
    return String(Number(v));
  }
  if (v === "true" || v === "false" || v === "null") return v;
  if (/^[[{"]/.test(v)) {
    try {
      return JSON.stringify(JSON.parse(v));
    } catch { /* not JSON: a plain string */ }
  }
  return JSON.stringify(value);
}

/** Tags of a cell. */
function tags(cell: NotebookCell): string[] {
  return Array.isArray(cell.metadata?.tags) ? cell.metadata.tags : [];
}

/**
 * Lists the names a `parameters` cell declares: top-level `const`, `let` or `var` at the start of a line,
 * with or without a type annotation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const src = 'const dataDir = "../data";\nlet seed: number = 42; // comment\n// const old = 1;\n';
 * assert.deepEqual(parameterDeclarations(src), [{ name: "dataDir", keyword: "const" }, { name: "seed", keyword: "let" }]);
 * ```
 */
export function parameterDeclarations(source: string): ParameterDeclaration[] {
  const declarations = source.matchAll(
    /^\s*(?:export\s+)?(const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=/gm,
  );
  return [...declarations].map(([, keyword, name]) => ({
    keyword: keyword as ParameterDeclaration["keyword"],
    name: name!,
  }));
}

/**
 * Returns a copy of `notebook` with an `injected-parameters` cell after its `parameters` cell that
 * re-declares each given name with its new value. A previous injected cell (from an earlier report run)
 * is replaced. With no values the notebook is returned unchanged.
 *
 * @param values Raw values by name, as given on the command line (see {@linkcode toTsLiteral}).
 * @param options `file` names the notebook in errors.
 * @throws {UnknownParameterError} listing the valid names if a name is not declared in the parameters cell.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const nb = { nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [
 *   { cell_type: "code", source: "const seed = 1;\nlet dir = 'x';", metadata: { tags: ["parameters"] }, outputs: [] },
 *   { cell_type: "code", source: "seed", metadata: {}, outputs: [] },
 * ] };
 * const out = injectParameters(nb, { seed: "7", dir: "a b" });
 * assert.equal(out.cells[1]?.source, 'const seed = 7;\nlet dir = "a b";\n');
 * assert.deepEqual(out.cells[1]?.metadata.tags, ["injected-parameters"]);
 * assert.throws(() => injectParameters(nb, { sead: "7" }), /no parameter "sead"; valid: seed, dir/);
 * ```
 */
export function injectParameters(
  notebook: Notebook,
  values: Record<string, string>,
  options: { file?: string } = {},
): Notebook {
  const names = Object.keys(values);
  if (names.length === 0) return notebook;
  const file = options.file ?? "notebook";
  const cells = notebook.cells.filter((c) => !tags(c).includes("injected-parameters"));
  const at = cells.findIndex((c) => c.cell_type === "code" && tags(c).includes("parameters"));
  const parameters = cells[at];
  const declared = parameters ? parameterDeclarations(cellText(parameters.source)) : [];
  const unknown = names.filter((n) => !declared.some((d) => d.name === n));
  if (unknown.length > 0) {
    const valid = declared.map((d) => d.name);
    const quoted = unknown.map((n) => `"${n}"`).join(", ");
    const message = valid.length === 0
      ? `Notebook "${file}" has no cell tagged "parameters", so it takes no parameters (given: ${
        unknown.join(", ")
      })`
      : `Notebook "${file}" has no parameter ${quoted}; valid: ${valid.join(", ")}`;
    throw new UnknownParameterError(message, unknown, valid);
  }
  const lines = declared.filter((d) => names.includes(d.name) && values[d.name] !== undefined)
    .map((d) => `${d.keyword} ${d.name} = ${toTsLiteral(values[d.name]!)};\n`);
  const injected: NotebookCell = {
    cell_type: "code",
    execution_count: null,
    metadata: { tags: ["injected-parameters"] },
    outputs: [],
    source: lines.join(""),
  };
  if (parameters?.id !== undefined) injected.id = `injected-parameters-${crypto.randomUUID().slice(0, 8)}`;
  return { ...notebook, cells: [...cells.slice(0, at + 1), injected, ...cells.slice(at + 1)] };
}
