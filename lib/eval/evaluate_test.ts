import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../tests/_fixtures.ts";
import { LabelMismatchError, openPredictor, selectBackend, tf } from "../model/mod.ts";
import { JUPYTER_DISPLAY } from "../display.ts";
import { FINDINGS } from "../nih/mod.ts";
import { rocAuc } from "../auroc.ts";
import { EvaluationInputError } from "./errors.ts";
import { evaluate } from "./evaluate.ts";
import { tinyBundle, writeTestCache } from "./_testing.ts";

await selectBackend("cpu");

Deno.test("evaluate scores every cached image through the predictor and reports exact AUROC with intervals", async () => {
  using dir = tempDir();
  const bundle = await tinyBundle(join(dir.path, "bundle"), 32);
  writeTestCache(dir.path, "test", 30, 32);
  const predictor = await openPredictor(bundle, { engine: "tfjs" });
  const before = tf.memory().numTensors;
  const events: number[] = [];
  const report = await evaluate(predictor, dir.path, {
    batchSize: 8,
    bootstrap: 100,
    seed: 4,
    onProgress: (e) => events.push(e.done),
  });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(events, [0, 8, 16, 24, 30]);
  // Reference: the predictor's own scores of all 30 images in one call.
  const pixels = new Uint8Array(readFileSync(join(dir.path, "test.bin")));
  const { probabilities } = await predictor.predict(pixels, 30);
  const labels = JSON.parse(readFileSync(join(dir.path, "test.json"), "utf8")).labels as string[];
  const j = report.json;
  assert.equal(j.images, 30);
  assert.deepEqual(j.model, { version: "tiny-test", engine: "tfjs" });
  FINDINGS.forEach((name, k) => {
    const s = Array.from({ length: 30 }, (_, i) => probabilities[i * 14 + k]!);
    const l = labels.map((row) => Number(row[k]));
    const expected = rocAuc(s, l);
    const m = j.classes[name];
    assert.ok(m, name);
    if (expected === null) {
      assert.deepEqual([m.auroc, m.ci], [null, null], name);
    } else {
      assert.ok(Math.abs(m.auroc! - expected) < 1e-6, `${name}: ${m.auroc} vs ${expected}`);
      assert.ok(m.ci![0] <= m.auroc! + 1e-9 && m.auroc! <= m.ci![1] + 1e-9, `${name} ci ${m.ci}`);
    }
    assert.equal(m.positives + m.negatives, 30);
  });
  assert.equal(j.classes.Hernia?.auroc, null);
  assert.equal(j.mean.classes, 13);
  assert.deepEqual(j.references.map((r) => r.name), ["CheXNet", "seed"]);
  const html = report[JUPYTER_DISPLAY]()["text/html"];
  assert.match(html, /<td>Cardiomegaly<\/td><td style="text-align:right">\d\.\d{3}<\/td>/);
  assert.match(html, /0\.925/); // CheXNet's Cardiomegaly beside it
  assert.match(report.formatTable(), /^Hernia\s+—\s+—\s+0\/30\s+0\.916\s+0\.889$/m);
  const files = await report.writeCharts(join(dir.path, "charts"));
  assert.deepEqual(files.map((f) => f.split("/").at(-1)), ["roc.svg", "auroc.svg", "metrics.json"]);
  const [roc, , metrics] = files;
  assert.ok(roc && metrics);
  assert.equal((readFileSync(roc, "utf8").match(/<polyline/g) ?? []).length, 13);
  assert.deepEqual(JSON.parse(readFileSync(metrics, "utf8")), JSON.parse(JSON.stringify(report)));
  await predictor.dispose();
});

Deno.test("evaluate refuses a cache whose classes or image size do not fit the model", async () => {
  using dir = tempDir();
  const bundle = await tinyBundle(join(dir.path, "bundle"), 32);
  writeTestCache(dir.path, "val", 4, 16);
  const predictor = await openPredictor(bundle, { engine: "tfjs" });
  await assert.rejects(
    evaluate(predictor, dir.path, { partition: "val" }),
    (e: Error) =>
      e instanceof EvaluationInputError && /holds 16x16 images but the model takes 32x32/.test(e.message),
  );
  writeTestCache(dir.path, "val", 4, 32);
  const changed = JSON.parse(readFileSync(join(dir.path, "val.json"), "utf8"));
  [changed.classes[3], changed.classes[4]] = [changed.classes[4], changed.classes[3]];
  Deno.writeTextFileSync(join(dir.path, "val.json"), JSON.stringify(changed));
  const mismatch = (e: Error) => e instanceof LabelMismatchError || /class/.test(e.message);
  await assert.rejects(evaluate(predictor, dir.path, { partition: "val" }), mismatch);
  await assert.rejects(evaluate(predictor, dir.path, { partition: "test" }), /test\.json is missing/);
  await assert.rejects(evaluate(predictor, dir.path, { partition: "val", batchSize: 0 }), RangeError);
  await predictor.dispose();
});
