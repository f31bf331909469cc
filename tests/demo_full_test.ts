/**
 * The README's first command end to end: `deno task demo` as a real subprocess on an empty work folder, with
 * its defaults (300 synthetic 1024x1024 images), the Docker engine `scripts/services.sh` starts, and all six
 * notebooks. Slow (minutes): it is the one test that runs the whole chain.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runCxr, tempDir } from "./_fixtures.ts";

const NOTEBOOKS = ["00_setup_vm", "01_fetch_data", "03_train", "04_score", "02_build_image", "05_deploy"];

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

Deno.test("demo: the whole chain on a fresh work folder, all six notebooks into HTML reports, no key in any of them", async () => {
  using dir = tempDir("cxr-demo-");
  const work = join(dir.path, "work");
  const reports = join(dir.path, "reports");
  const key = `demo-key-${crypto.randomUUID()}`;
  const started = performance.now();
  const run = await runCxr(["demo", "--reports-dir", reports], {
    env: { CXR_WORK_DIR: work, CXR_SCORING_KEY: key, PATH: Deno.env.get("PATH") ?? "" },
  });
  const seconds = Math.round((performance.now() - started) / 1000);
  console.log(`demo took ${seconds} s`);
  assert.equal(run.code, 0, `demo failed:\n${run.stderr.slice(-4000)}`);
  assert.match(run.stdout, /Demo finished in [\d.]+s\./);
  assert.doesNotMatch(run.stdout, /skipped/, "every notebook must run (is the Docker engine up?)");

  // Six executed notebooks, each with its HTML report, in the order the demo runs them.
  const reported = [...run.stdout.matchAll(/report\s+(\S+\.html)/g)].map((m) => m[1]);
  assert.deepEqual(reported, NOTEBOOKS.map((nb) => join(reports, `${nb}.html`)));
  const html = (nb: string) => readFileSync(join(reports, `${nb}.html`), "utf8");
  assert.match(html("03_train"), /mean \(defined classes\)/);
  assert.match(html("04_score"), /CheXNet/);
  assert.match(html("04_score"), /data:image\/png;base64/); // heatmaps
  assert.match(html("02_build_image"), /cxr-scoring:demo/);
  assert.match(html("05_deploy"), /HorizontalPodAutoscaler/);

  // The artefacts it lists exist: the model with its ONNX file, the evaluation, the image build records.
  for (const name of ["model bundle", "ONNX model", "evaluation", "image build records"]) {
    const line = run.stdout.split("\n").find((l) => l.trimStart().startsWith(name));
    assert.ok(line, `artefact "${name}" not listed`);
    assert.ok(existsSync(line.trim().split(/\s{2,}/).at(-1)!), line);
  }
  const evalDir = join(work, "demo", "train", "eval");
  const metrics = JSON.parse(readFileSync(join(evalDir, "metrics.json"), "utf8"));
  assert.ok(metrics.mean.auroc > 0.5, `mean test AUROC ${metrics.mean.auroc}`);

  // The scoring key never lands in a report, a notebook, a log or the console.
  for (
    const f of [
      ...filesUnder(reports),
      ...filesUnder(work).filter((f) => /\.(ipynb|html|json|jsonl|log)$/.test(f)),
    ]
  ) {
    assert.ok(!readFileSync(f, "utf8").includes(key), `scoring key found in ${f}`);
  }
  assert.ok(!run.stdout.includes(key) && !run.stderr.includes(key), "scoring key printed");
});
