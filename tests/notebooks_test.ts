import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { codeCells } from "./_kernel.ts";
import { cellText, type Notebook, readNotebook } from "../lib/report/mod.ts";

// The numbered notebooks, executed the way `deno task report` runs them, checked for the outputs they promise.

const NOTEBOOK_01 = join(REPO_ROOT, "notebooks/01_fetch_data.ipynb");

/** Every output of an executed notebook with the given MIME type, as text. */
function outputsOf(nb: Notebook, mime: string): string[] {
  return codeCells(nb).flatMap((c) => c.outputs ?? []).filter((o) => o.data?.[mime] !== undefined)
    .map((o) => cellText(o.data![mime] as string | string[]));
}

Deno.test("notebook 01 reports label table, bar chart and split on synthetic data it generates", async () => {
  using dir = tempDir();
  const data = join(dir.path, "nih");
  const r = await runCxr([
    "report",
    NOTEBOOK_01,
    "--out",
    join(dir.path, "reports"),
    "--json",
    ...["--param", `dataDir=${data}`, "--param", `splitFile=${data}/split.json`],
    ...["--param", "synthImages=120", "--param", "synthSize=64", "--param", "seed=5"],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout).notebooks[0];
  assert.equal(s.ok, true);
  const nb = readNotebook(s.ipynb);
  assert.equal(codeCells(nb).filter((c) => c.metadata.tags?.includes("injected-parameters")).length, 1);
  assert.ok(codeCells(nb).every((c) => !(c.outputs ?? []).some((o) => o.output_type === "error")));
  assert.ok(
    outputsOf(nb, "text/markdown").some((t) => t.includes("120 synthetic images")),
    "synthetic summary",
  );
  const tables = outputsOf(nb, "text/html").filter((t) => t.includes("<table>") && t.includes("Atelectasis"));
  assert.equal(tables.length, 2, "label table overall and per partition");
  assert.match(tables[1], /<th>train<\/th><th>val<\/th><th>test<\/th>/);
  const charts = outputsOf(nb, "image/svg+xml");
  assert.equal(charts.length, 1);
  assert.match(charts[0], /^<svg[^>]*>.*Images per label.*<rect /s);
  assert.ok(
    outputsOf(nb, "text/plain").some((t) => /method: .*official.*patients: \{ train:/s.test(t)),
    "split summary",
  );
  const split = JSON.parse(readFileSync(join(data, "split.json"), "utf8"));
  assert.equal(split.format, "cxr-split/1");
  assert.equal(split.seed, 5);
  const html = readFileSync(s.html, "utf8");
  for (
    const text of [
      "https://nihcc.app.box.com/v/ChestXray-NIHCC",
      "NIH Clinical Center",
      "CVPR",
      "<svg",
      "<table>",
    ]
  ) {
    assert.ok(html.includes(text), `report lacks ${text}`);
  }
});

Deno.test("notebook 01 on the real NIH label file reproduces the seed split (21,563 / 3,081 / 6,161 patients)", async () => {
  using dir = tempDir();
  const r = await runCxr([
    "report",
    NOTEBOOK_01,
    "--out",
    dir.path,
    "--json",
    ...["--param", `dataDir=${NIH_SAMPLE}`, "--param", "synthImages=0", "--param", "splitMethod=seed"],
    ...["--param", "entriesFile=Data_Entry_2017_v2020.csv.gz", "--param", "bboxFile=BBox_List_2017.csv.gz"],
    ...["--param", `splitFile=${join(dir.path, "split.json")}`],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const split = JSON.parse(readFileSync(join(dir.path, "split.json"), "utf8"));
  assert.deepEqual(split.patients, { train: 21563, val: 3081, test: 6161 });
  const nb = readNotebook(JSON.parse(r.stdout).notebooks[0].ipynb);
  assert.ok(
    outputsOf(nb, "text/plain").some((t) => t.includes("112120")),
    "label statistics of all 112,120 images",
  );
});
