import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { codeCells, outputText } from "./_kernel.ts";
import { cellText, type Notebook, readNotebook } from "../lib/report/mod.ts";
import { prepareSplit, synthesize } from "../lib/nih/mod.ts";
import { selectBackend } from "../lib/model/mod.ts";
import { tinyBundle } from "../lib/eval/_testing.ts";

// Notebook 04 executed as `deno task report` runs it, on a small synthetic NIH-layout set and a tiny DenseNet
// saved by the setup: evaluation table and charts, heatmaps with and without boxes, localisation, and one call
// to the local scoring service with a key that must not appear in the executed notebook or its HTML.

await selectBackend("cpu");

function outputsOf(nb: Notebook, mime: string): string[] {
  return codeCells(nb).flatMap((c) => c.outputs ?? []).filter((o) => o.data?.[mime] !== undefined)
    .map((o) => {
      const v = o.data![mime];
      return typeof v === "object" && !Array.isArray(v)
        ? JSON.stringify(v)
        : cellText(v as string | string[]);
    });
}

Deno.test("notebook 04 evaluates, draws heatmaps with and without NIH boxes, and calls the local service", async () => {
  using dir = tempDir();
  const data = join(dir.path, "nih"), cache = join(dir.path, "cache"), charts = join(dir.path, "eval");
  await synthesize(data, { images: 60, seed: 3, size: 96 });
  prepareSplit(data, { method: "official", valFraction: 0.25, seed: 0 });
  const model = await tinyBundle(join(dir.path, "best"), 32);
  const key = "nb04-test-key-7f3a9c2e51d8";
  const r = await runCxr([
    "report",
    join(REPO_ROOT, "notebooks/04_score.ipynb"),
    "--out",
    join(dir.path, "reports"),
    "--json",
    ...["--param", `dataDir=${data}`, "--param", `cacheDir=${cache}`, "--param", `modelDir=${model}`],
    ...["--param", `chartsDir=${charts}`, "--param", "bootstrap=100", "--param", "galleryImages=2"],
  ], { env: { CXR_SCORING_KEY: key } });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout).notebooks[0];
  assert.equal(s.ok, true, JSON.stringify(s.error));
  const nb = readNotebook(s.ipynb);
  const errors = codeCells(nb).flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === "error");
  assert.deepEqual(errors.map(outputText), []);

  const html = outputsOf(nb, "text/html");
  const table = html.find((t) => t.includes('<table class="cxr-eval">'));
  assert.ok(table, "evaluation table");
  for (const f of ["Atelectasis", "Cardiomegaly", "Pleural_Thickening", "Hernia", "mean"]) {
    assert.ok(table.includes(`<td>${f}</td>`), f);
  }
  assert.match(table, /<th>CheXNet<\/th><th>seed<\/th>/);
  assert.match(table, /<svg[^>]*>[\s\S]*ROC curves, test/);
  assert.ok(
    outputsOf(nb, "application/vnd.vegalite.v5+json").some((v) => v.includes('"fpr"')),
    "vega-lite ROC",
  );
  for (const f of ["roc.svg", "auroc.svg", "metrics.json"]) assert.ok(existsSync(join(charts, f)), f);
  const metrics = JSON.parse(readFileSync(join(charts, "metrics.json"), "utf8"));
  assert.equal(metrics.format, "cxr-eval/1");
  assert.equal(metrics.bootstrap.resamples, 100);

  const gallery = html.find((t) => t.includes('<table class="cxr-heatmaps">'));
  assert.ok(gallery, "heatmap gallery");
  assert.equal((gallery.match(/alt="heatmap" src="data:image\/png;base64,iVBOR/g) ?? []).length, 2);
  assert.equal(
    (gallery.match(/alt="heatmap with NIH boxes" src="data:image\/png;base64,iVBOR/g) ?? []).length,
    2,
  );
  assert.ok(
    html.some((t) => /<table class="cxr-localization">.*<th>T=0.1<\/th>/s.test(t)),
    "localisation table",
  );

  const card = outputsOf(nb, "text/markdown").find((t) => t.startsWith("# Model card: "));
  assert.ok(card, "the model card, as Markdown");
  assert.equal(card, readFileSync(join(model, "MODEL_CARD.md"), "utf8"));
  assert.match(card, /## Intended use and limits/);

  const plain = outputsOf(nb, "text/plain").join("\n");
  assert.match(plain, /http:\/\/127\.0\.0\.1:\d+/);
  assert.match(plain, /probabilities: \{[\s\S]*Atelectasis: \d/);
  assert.match(plain, /top: \{ class: "\w+", probability: \d/);
  assert.match(plain, /service stopped/);

  const ipynbText = readFileSync(s.ipynb, "utf8");
  assert.ok(!ipynbText.includes(key), "the scoring key is in the executed notebook");
  assert.ok(s.html && !readFileSync(s.html, "utf8").includes(key), "the scoring key is in the HTML report");
});

Deno.test("notebook 04 opened alone: stops at its first cell that needs notebook 03's bundle, with one line saying so", async () => {
  using dir = tempDir();
  const missing = join(dir.path, "train-demo", "run", "best");
  const r = await runCxr([
    "report",
    join(REPO_ROOT, "notebooks/04_score.ipynb"),
    "--out",
    join(dir.path, "reports"),
    "--json",
    ...["--param", `modelDir=${missing}`, "--param", `dataDir=${join(dir.path, "nih")}`],
  ]);
  assert.notEqual(r.code, 0);
  const s = JSON.parse(r.stdout).notebooks[0];
  assert.equal(s.ok, false);
  const message = `No model bundle at "${missing}": run notebook 03 first, or set modelDir`;
  const nb = readNotebook(s.ipynb);
  const cells = codeCells(nb);
  const guard = cells.findIndex((c) => cellText(c.source).startsWith("await requireBundle(modelDir"));
  const guardCell = cells[guard];
  assert.ok(
    guardCell && guard > 0 &&
      cells.slice(0, guard).every((c) => !cellText(c.source).includes("openPredictor(")),
  );
  assert.deepEqual(s.error, {
    cell: nb.cells.indexOf(guardCell) + 1,
    codeCell: guard + 1,
    ename: "MissingBundleError",
    evalue: message,
  });
  const errors = cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === "error");
  assert.equal(errors.length, 1, "one cell error");
  assert.equal(errors[0]?.ename, "MissingBundleError");
  assert.equal(errors[0]?.evalue, message);
  const traceback = ((errors[0]?.traceback ?? []) as string[]).join("\n");
  assert.doesNotMatch(traceback, /\n\s+at /, "no stack trace");
  for (const c of cells.slice(guard + 1)) {
    assert.deepEqual(c.outputs ?? [], [], "nothing ran after the guard");
  }
  const everything = cells.flatMap((c) => c.outputs ?? []).map(outputText).join("\n");
  assert.doesNotMatch(everything, /ReferenceError|ENOENT/);
});
