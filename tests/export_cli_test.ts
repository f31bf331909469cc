import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { runCxr, tempDir } from "./_fixtures.ts";
import { writeSyntheticCache } from "../lib/train/_testing.ts";
import { openPredictor, selectBackend } from "../lib/model/mod.ts";

// `cxr train` leaves best/ with model.onnx; `cxr export onnx` rewrites it and checks it against tfjs.

Deno.test("train writes best/model.onnx; export onnx rewrites it and both engines agree", async () => {
  using dir = tempDir();
  const cache = await writeSyntheticCache(dir.path, { images: 40, size: 32 });
  const out = join(dir.path, "run");
  const train = await runCxr([
    "train",
    "--cache",
    cache,
    "--out",
    out,
    ...["--epochs", "1", "--batch", "4", "--arch", "tiny", "--backend", "wasm", "--json"],
  ]);
  assert.equal(train.code, 0, train.stderr);
  const best = join(out, "best");
  assert.deepEqual(readdirSync(best).sort(), [
    "MODEL_CARD.md",
    "metadata.json",
    "model.json",
    "model.onnx",
    "weights.bin",
  ]);

  rmSync(join(best, "model.onnx"));
  const r = await runCxr(["export", "onnx", "--model", best, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(summary), ["model", "onnx", "bytes", "opset", "seconds", "check"]);
  assert.equal(summary.onnx, join(best, "model.onnx"));
  assert.equal(summary.bytes, statSync(summary.onnx).size);
  assert.equal(summary.opset, 13);
  assert.equal(summary.check.images, 2);
  assert.ok(summary.check.maxAbsDiff <= 1e-5);
  assert.match(r.stderr, /^backend: wasm/m);

  const text = await runCxr(["export", "onnx", "--model", best, "--check-images", "0"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Wrote .*model\.onnx \(\d+\.\d MB, opset 13\) in [\d.]+ s\n$/);

  await selectBackend("wasm");
  const predictor = await openPredictor(best);
  assert.equal(predictor.engine, "onnx");
  await predictor.dispose();
});

Deno.test("export onnx: a missing --model is a usage error, a missing bundle a one-line failure", async () => {
  const usage = await runCxr(["export", "onnx"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--model is required/);
  using dir = tempDir();
  const missing = join(dir.path, "nope");
  const r = await runCxr(["export", "onnx", "--model", missing]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /metadata\.json/);
  assert.equal(existsSync(missing), false);
});
