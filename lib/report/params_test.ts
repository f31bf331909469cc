import assert from "node:assert/strict";
import type { Notebook, NotebookCell } from "./notebook.ts";
import { UnknownParameterError } from "./errors.ts";
import { injectParameters, parameterDeclarations, toTsLiteral } from "./params.ts";

function cell(source: string, tags?: string[]): NotebookCell {
  return { cell_type: "code", source, metadata: tags ? { tags } : {}, outputs: [], execution_count: null };
}

function notebook(...cells: NotebookCell[]): Notebook {
  return { nbformat: 4, nbformat_minor: 5, metadata: {}, cells };
}

Deno.test("parameterDeclarations reads const/let/var with types and comments, ignores nested and commented ones", () => {
  const src = [
    'const dataDir = "../data"; // folder',
    "let seed: number = 0;",
    "var legacy = true;",
    "export const shared = 1;",
    "// const commented = 2;",
    "const nested = { inner: 3 };",
    "if (x) { const inside = 4; }",
  ].join("\n");
  assert.deepEqual(parameterDeclarations(src).map((d) => `${d.keyword} ${d.name}`), [
    "const dataDir",
    "let seed",
    "var legacy",
    "const shared",
    "const nested",
  ]);
});

Deno.test("toTsLiteral keeps numbers, booleans, null and JSON; quotes everything else safely", () => {
  assert.equal(toTsLiteral("0"), "0");
  assert.equal(toTsLiteral(" 3.25 "), "3.25");
  assert.equal(toTsLiteral("007"), '"007"'); // not a JSON number: kept as text
  assert.equal(toTsLiteral("1e400"), '"1e400"'); // not finite
  assert.equal(toTsLiteral("null"), "null");
  assert.equal(toTsLiteral('[1, "a"]'), '[1,"a"]');
  assert.equal(toTsLiteral('"quoted"'), '"quoted"');
  assert.equal(toTsLiteral("{not json"), '"{not json"');
  assert.equal(toTsLiteral(""), '""');
  const nasty = '"; Deno.exit(1); const x = "\u2028\\';
  assert.equal(JSON.parse(toTsLiteral(nasty)), nasty);
  assert.equal(eval(toTsLiteral(nasty)), nasty);
});

Deno.test("injectParameters puts one tagged cell after the parameters cell and replaces an earlier one", () => {
  const nb = notebook(
    cell('import x from "y";'),
    cell("const a = 1;\nlet b = 2;", ["parameters"]),
    cell("let b = 99;", ["injected-parameters"]),
    cell("a + b"),
  );
  const out = injectParameters(nb, { b: "5" });
  assert.deepEqual(out.cells.map((c) => c.source), [
    'import x from "y";',
    "const a = 1;\nlet b = 2;",
    "let b = 5;\n",
    "a + b",
  ]);
  assert.deepEqual(out.cells[2]?.metadata.tags, ["injected-parameters"]);
  assert.equal(nb.cells.length, 4, "the input is not changed");
  assert.equal(injectParameters(nb, {}), nb);
});

Deno.test("injectParameters without a parameters cell or with an unknown name says what is valid", () => {
  const none = notebook(cell("const a = 1;"));
  assert.throws(
    () => injectParameters(none, { a: "2" }, { file: "n.ipynb" }),
    (e: unknown) =>
      e instanceof UnknownParameterError && /"n.ipynb" has no cell tagged "parameters"/.test(e.message),
  );
  const nb = notebook(cell("const alpha = 1;\nconst beta = 2;", ["parameters"]));
  assert.throws(
    () => injectParameters(nb, { gamma: "1", alpha: "3" }),
    (e: unknown) =>
      e instanceof UnknownParameterError && e.names.join() === "gamma" && e.valid.join() === "alpha,beta",
  );
});
