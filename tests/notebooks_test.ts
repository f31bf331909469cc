import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { codeCells } from "./_kernel.ts";
import { cellText, type Notebook, readNotebook } from "../lib/report/mod.ts";
import { AZURITE_ACCOUNT_KEY } from "../lib/storage/mod.ts";
import sharp from "sharp";

// The numbered notebooks, executed the way `deno task report` runs them, checked for the outputs they promise.

const NOTEBOOK_01 = join(REPO_ROOT, "notebooks/01_fetch_data.ipynb");

/** Every output of an executed notebook with the given MIME type, as text. */
function outputsOf(nb: Notebook, mime: string): string[] {
  return codeCells(nb).flatMap((c) => c.outputs ?? []).filter((o) => o.data?.[mime] !== undefined)
    .map((o) => cellText(o.data![mime] as string | string[]));
}

/** A fake account key, registered nowhere but in the kernel's environment: it must not reach any output. */
const FAKE_KEY = "bm90LWEtcmVhbC1rZXktanVzdC1hLXRlc3QtMDEyMzQ1Njc4OQ==";

Deno.test("notebook 01 on synthetic data: labels, split, sample grid, upload and training-side download", async () => {
  using dir = tempDir();
  const data = join(dir.path, "nih");
  const training = join(dir.path, "training-side");
  const r = await runCxr([
    "report",
    NOTEBOOK_01,
    "--out",
    join(dir.path, "reports"),
    "--json",
    ...["--param", `dataDir=${data}`, "--param", `splitFile=${data}/split.json`],
    ...["--param", "synthImages=120", "--param", "synthSize=64", "--param", "seed=5"],
    ...["--param", `trainingDir=${training}`, "--param", "sampleCount=6"],
  ], {
    env: {
      CXR_AZURITE_DIR: join(dir.path, "azurite"),
      CXR_AZURITE_PORT: "0",
      CXR_STORAGE: "azurite",
      AZURE_STORAGE_ACCOUNT: "cxrnotebooktest",
      AZURE_STORAGE_KEY: FAKE_KEY,
    },
  });
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
  assert.match(tables[1] ?? "", /<th>train<\/th><th>val<\/th><th>test<\/th>/);
  const charts = outputsOf(nb, "image/svg+xml");
  assert.equal(charts.length, 1);
  assert.match(charts[0] ?? "", /^<svg[^>]*>.*Images per label.*<rect /s);
  assert.ok(
    outputsOf(nb, "text/html").some((t) => /^<p>official split, seed 5, .*<th>partition<\/th>/s.test(t)),
    "split summary",
  );
  const grids = outputsOf(nb, "image/png").map((b64) => Buffer.from(b64.replace(/\s/g, ""), "base64"));
  assert.equal(grids.length, 1, "one sample grid");
  const grid = await sharp(grids[0]).metadata();
  assert.deepEqual([grid.format, grid.width, grid.height], ["png", 4 * 192, 2 * (192 + 45)]);
  const html = outputsOf(nb, "text/html");
  assert.ok(
    html.some((t) => /Uploaded to .*<td>metadata<\/td><td>nih-metadata<\/td><td>5<\/td>/s.test(t)),
    "upload summary: four label files and the split",
  );
  assert.ok(html.some((t) => /<td>images<\/td><td>nih-images<\/td><td>120<\/td>/.test(t)), "images uploaded");
  assert.ok(
    html.some((t) => /Downloaded from .*<td>total<\/td><td><\/td><td>125<\/td>/s.test(t)),
    "download",
  );
  assert.equal(readdirSync(join(training, "images")).length, 120);
  assert.ok(readdirSync(training).includes("split.json"), "the split travels with the labels");
  assert.ok(outputsOf(nb, "text/plain").some((t) => /accountKey: \*\*\*/.test(t)), "settings shown redacted");
  const split = JSON.parse(readFileSync(join(data, "split.json"), "utf8"));
  assert.equal(split.format, "cxr-split/1");
  assert.equal(split.seed, 5);
  const report = readFileSync(s.html, "utf8");
  for (
    const text of [
      "https://nihcc.app.box.com/v/ChestXray-NIHCC",
      "NIH Clinical Center",
      "CVPR",
      "<svg",
      "<table>",
      "data:image/png;base64,",
    ]
  ) {
    assert.ok(report.includes(text), `report lacks ${text}`);
  }
  for (const file of [s.ipynb, s.html]) {
    const text = readFileSync(file, "utf8");
    assert.ok(!text.includes(FAKE_KEY), `${file} shows the account key`);
    assert.ok(!text.includes(AZURITE_ACCOUNT_KEY.reveal()), `${file} shows the emulator key`);
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
    ...["--param", `splitFile=${join(dir.path, "split.json")}`, "--param", "upload=false"],
  ], { env: { CXR_AZURITE_DIR: join(dir.path, "azurite"), CXR_AZURITE_PORT: "0" } });
  assert.equal(r.code, 0, r.stderr);
  const split = JSON.parse(readFileSync(join(dir.path, "split.json"), "utf8"));
  assert.deepEqual(split.patients, { train: 21563, val: 3081, test: 6161 });
  const nb = readNotebook(JSON.parse(r.stdout).notebooks[0].ipynb);
  assert.ok(
    outputsOf(nb, "text/plain").some((t) => t.includes("112120")),
    "label statistics of all 112,120 images",
  );
  const grid = outputsOf(nb, "image/png");
  assert.equal(grid.length, 1, "a grid of the real sample images that are there");
  assert.ok(outputsOf(nb, "text/plain").some((t) => t.includes("upload = false: nothing sent")));
});
