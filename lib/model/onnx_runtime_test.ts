import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { selectBackend } from "./backend.ts";
import { BundleMismatchError, saveBundle } from "./bundle.ts";
import { createDenseNet } from "./densenet.ts";
import { exportOnnx, writeBundleOnnx } from "./onnx_export.ts";
import { OnnxRuntimeError, openOnnxPredictor } from "./onnx_runtime.ts";
import { openPredictor } from "./predictor.ts";

await selectBackend("cpu");

async function bundle(onnx: "none" | "full" | "no-cam" | "garbage"): Promise<string> {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
  await saveBundle(model, dir);
  if (onnx === "full") await writeBundleOnnx(dir, { model });
  if (onnx === "no-cam") await writeFile(join(dir, "model.onnx"), await exportOnnx(model, { cam: false }));
  if (onnx === "garbage") await writeFile(join(dir, "model.onnx"), new Uint8Array([1, 2, 3]));
  model.dispose();
  return dir;
}

Deno.test("openPredictor auto: onnx when the bundle has model.onnx", async () => {
  const predictor = await openPredictor(await bundle("full"));
  assert.equal(predictor.engine, "onnx");
  const { cam } = await predictor.predict(new Uint8Array(2 * 256), 2, { cam: true });
  assert.deepEqual([cam!.height, cam!.width, cam!.classes], [4, 4, 14]);
  await predictor.dispose();
});

Deno.test("openOnnxPredictor: a bundle without model.onnx says how to write it", async () => {
  const dir = await bundle("none");
  await assert.rejects(openPredictor(dir, { engine: "onnx" }), (e: unknown) => {
    assert.ok(e instanceof OnnxRuntimeError);
    assert.match(e.message, /has no model\.onnx \(write it with `deno task cxr export onnx --model /);
    return true;
  });
});

Deno.test("openOnnxPredictor: bad options, absent providers and broken files are refused clearly", async () => {
  const dir = await bundle("full");
  await assert.rejects(openOnnxPredictor(dir, { provider: "tpu" as "cpu" }), /unknown provider "tpu"/);
  await assert.rejects(openOnnxPredictor(dir, { threads: 0 }), TypeError);
  const binding = dirname(createRequire(import.meta.url).resolve("onnxruntime-node"));
  const cudaLib = join(binding, "../bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so");
  if (!existsSync(cudaLib)) {
    // This machine's onnxruntime-node has no CUDA libraries (Debian CI too): the error says which is missing.
    await assert.rejects(
      openOnnxPredictor(dir, { provider: "cuda" }),
      /on the "cuda" provider: libonnxruntime_providers_cuda\.so is not installed/,
    );
  }
  await assert.rejects(openOnnxPredictor(await bundle("garbage"), {}), (e: unknown) => {
    assert.ok(e instanceof OnnxRuntimeError);
    assert.match(e.message, /^Cannot open ".*model\.onnx" on the "cpu" provider: /);
    assert.ok(e.cause);
    return true;
  });
});

Deno.test("openOnnxPredictor: a model.onnx without the cam output answers probabilities only", async () => {
  const predictor = await openOnnxPredictor(await bundle("no-cam"), { threads: 1 });
  assert.equal((await predictor.predict(new Uint8Array(256), 1)).probabilities.length, 14);
  await assert.rejects(predictor.predict(new Uint8Array(256), 1, { cam: true }), /has no cam output/);
  await predictor.dispose();
});

Deno.test("both engines refuse at open a metadata.json that disagrees with the model (classes, size, channels)", async () => {
  const dir = await bundle("full");
  const file = join(dir, "metadata.json");
  const meta = JSON.parse(await Deno.readTextFile(file));
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "3 classes",
      { classNames: ["Atelectasis", "Cardiomegaly", "Effusion"] },
      /14 outputs but 3 class names/,
    ],
    ["inputSize 16384", { inputSize: 16384 }, /input size 16x16 but metadata says 16384/],
    ["3 channels", { channels: 3 }, /1 input channels but metadata says 3/],
  ];
  for (const [label, change, reason] of cases) {
    await Deno.writeTextFile(file, JSON.stringify({ ...meta, ...change }));
    for (const engine of ["onnx", "tfjs", "auto"] as const) {
      const started = performance.now();
      await assert.rejects(openPredictor(dir, { engine, threads: 1 }), (e: unknown) => {
        assert.ok(e instanceof BundleMismatchError, `${label}, ${engine}: ${e}`);
        assert.match(e.message, reason, `${label}, ${engine}`);
        const model = engine === "tfjs" ? "model\\.json" : "model\\.onnx";
        assert.match(e.message, new RegExp(`^Bundle ".*": ${model} and metadata\\.json disagree: `));
        return true;
      });
      assert.ok(performance.now() - started < 5000, `${label}, ${engine}: refused at open, not later`);
    }
  }
  await Deno.writeTextFile(file, JSON.stringify(meta));
  const predictor = await openOnnxPredictor(dir, { threads: 1 });
  assert.equal((await predictor.predict(new Uint8Array(256), 1)).probabilities.length, 14);
  await predictor.dispose();
});
