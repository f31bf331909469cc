import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { codeCells } from "./_kernel.ts";
import { cellText, type Notebook, readNotebook } from "../lib/report/mod.ts";
import { readHistory } from "../lib/train/mod.ts";

// Notebook 03 executed as `deno task report` runs it: synthetic data -> cache -> tiny DenseNet, with the
// live loss chart, the history table and a per-class AUROC table, and a validation AUROC clearly above chance.

function outputsOf(nb: Notebook, mime: string): string[] {
  return codeCells(nb).flatMap((c) => c.outputs ?? []).filter((o) => o.data?.[mime] !== undefined)
    .map((o) => cellText(o.data![mime] as string | string[]));
}

/** Runs notebook 03 as `deno task report` does, its data, cache and run folders in `dir`, with `params` added. */
async function runNotebook03(dir: string, params: string[]) {
  const r = await runCxr([
    "report",
    join(REPO_ROOT, "notebooks/03_train.ipynb"),
    "--out",
    join(dir, "reports"),
    "--json",
    ...["--param", `dataDir=${join(dir, "nih")}`, "--param", `cacheDir=${join(dir, "cache")}`],
    ...["--param", `outDir=${join(dir, "run")}`, ...params.flatMap((p) => ["--param", p])],
  ]);
  return { r, s: JSON.parse(r.stdout).notebooks[0] };
}

Deno.test("notebook 03 trains the tiny DenseNet on synthetic data to a mean validation AUROC above 0.6", async () => {
  using dir = tempDir();
  const out = join(dir.path, "run");
  const { r, s } = await runNotebook03(dir.path, ["synthImages=300", "epochs=5"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(s.ok, true, JSON.stringify(s.error));
  const nb = readNotebook(s.ipynb);
  assert.ok(codeCells(nb).every((c) => !(c.outputs ?? []).some((o) => o.output_type === "error")));

  const history = readHistory(join(out, "history.jsonl"));
  assert.deepEqual(history.map((h) => h.epoch), [1, 2, 3, 4, 5]);
  const best = Math.max(...history.map((h) => h.mean_auroc ?? 0));
  assert.ok(best > 0.6, `mean validation AUROC ${best}`);

  const charts = outputsOf(nb, "image/svg+xml");
  assert.ok(charts.some((c) => /Loss per epoch.*<polyline/s.test(c)), "loss chart");
  const tables = outputsOf(nb, "text/html").filter((t) => t.includes("<table>"));
  assert.ok(
    tables.some((t) => t.includes("<th>val_loss</th>") && (t.match(/<tr>/g) ?? []).length === 6),
    "history",
  );
  const auroc = tables.find((t) => t.includes("<th>AUROC</th>"));
  assert.ok(auroc, "per-class AUROC table");
  for (const finding of ["Atelectasis", "Cardiomegaly", "Hernia", "mean (defined classes)"]) {
    assert.ok(auroc.includes(`<td>${finding}</td>`), finding);
  }
  assert.ok(
    outputsOf(nb, "text/plain").some((t) => t.includes('"epochs": 5') || t.includes("epochs: 5")),
    "summary",
  );
  // Where the weights came from: its own table, and the training log's line.
  assert.ok(
    tables.some((t) => /<th[^>]*>source<\/th><td>none \(random weights\)<\/td>/.test(t)),
    "starting-weights table",
  );
  assert.ok(
    outputsOf(nb, "text/plain").some((t) => t.includes("Starting from random weights (--init none)")) ||
      codeCells(nb).some((c) =>
        (c.outputs ?? []).some((o) =>
          cellText((o.text ?? "") as string | string[]).includes("Starting from random")
        )
      ),
    "init line in the training output",
  );
  // What computed the gradients, on how many threads: the summary and the training log's first line.
  const summary = outputsOf(nb, "text/plain").find((t) => t.includes("engine"));
  assert.match(
    summary ?? "",
    /engine: "onnx"[\s\S]*workers: \d[\s\S]*threads: \d/,
    "engine, workers and threads in the summary",
  );
  assert.ok(
    codeCells(nb).some((c) =>
      (c.outputs ?? []).some((o) =>
        /ONNX Runtime: \d workers? x \d threads?/.test(
          cellText((o.text ?? o.data?.["text/plain"] ?? o.data?.["text/html"] ?? "") as string | string[]),
        )
      )
    ),
    "engine line in the training output",
  );
});

Deno.test("notebook 03 with gpus = [0] (no GPU and no CUDA provider library here): the training cell stops, naming the missing library, and writes no checkpoint", async () => {
  using dir = tempDir();
  const out = join(dir.path, "run");
  const { r, s } = await runNotebook03(dir.path, ["synthImages=60", "epochs=1", "gpus=[0]"]);
  assert.notEqual(r.code, 0);
  assert.equal(s.ok, false);
  const nb = readNotebook(s.ipynb);
  const cells = codeCells(nb);
  const trainCell = cells.findIndex((c) => cellText(c.source).startsWith("const summary = await train("));
  assert.equal(s.error?.codeCell, trainCell + 1, JSON.stringify(s.error));
  assert.match(
    s.error?.evalue ?? "",
    /"cuda" provider cannot run: libonnxruntime_providers_cuda\.so is not installed/,
  );
  for (const name of ["checkpoints", "best", "history.jsonl"]) {
    assert.equal(existsSync(join(out, name)), false, `${name} written`);
  }
});
