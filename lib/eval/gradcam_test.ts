import assert from "node:assert/strict";
import { tempDir } from "../../tests/_fixtures.ts";
import { loadBundle, selectBackend, tf, tfjsPredictor, tfl } from "../model/mod.ts";
import { mulberry32 } from "../random.ts";
import { camForClass } from "./heatmap.ts";
import { gradCam } from "./gradcam.ts";
import { tinyBundle } from "./_testing.ts";

await selectBackend("cpu");

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) (ma += a[i]! / n), (mb += b[i]! / n);
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

Deno.test("Grad-CAM on a DenseNet equals ReLU(CAM) x sigmoid'(z) / (h*w), correlates with CAM, leaks no tensors", async () => {
  using dir = tempDir();
  const { model, metadata } = await loadBundle(await tinyBundle(dir.path, 32, 5));
  const predictor = tfjsPredictor(model, metadata);
  const rnd = mulberry32(8);
  const pixels = Uint8Array.from({ length: 32 * 32 }, () => Math.floor(rnd() * 256));
  const { probabilities, cam } = await predictor.predict(pixels, 1, { cam: true });
  const before = tf.memory().numTensors;
  let compared = 0;
  for (const c of [0, 5, 9, 13]) {
    const g = await gradCam(model, pixels, { classIndex: c });
    const m = camForClass(cam!, 0, c);
    assert.deepEqual([g.map.width, g.map.height], [m.width, m.height]);
    assert.equal(g.layer, "relu");
    const p = probabilities[c]!;
    const factor = p * (1 - p) / (m.width * m.height);
    const expected = m.data.map((v) => Math.max(v, 0) * factor);
    const scale = Math.max(...expected);
    if (scale === 0) continue; // every CAM value negative: Grad-CAM is all zeros too
    g.map.data.forEach((v, i) =>
      assert.ok(Math.abs(v - expected[i]!) <= 1e-3 * scale, `class ${c} cell ${i}: ${v} vs ${expected[i]}`)
    );
    assert.ok(correlation(g.map.data, expected) > 0.999);
    assert.ok(Math.abs(g.scores[c]! - p) < 1e-5);
    compared++;
  }
  assert.ok(compared >= 2, `only ${compared} classes had a positive CAM`);
  const top = await gradCam(model, pixels);
  assert.equal(top.classIndex, probabilities.indexOf(Math.max(...probabilities)));
  assert.equal(tf.memory().numTensors, before);
  await assert.rejects(
    gradCam(model, pixels, { classIndex: 14 }),
    /classIndex must be an integer 0..13, got 14/,
  );
  await assert.rejects(gradCam(model, pixels.subarray(1)), /1023 values, the model takes 32x32x1 = 1024/);
  await assert.rejects(gradCam(model, pixels, { layer: "nope" }), /no layer "nope"/);
  assert.equal(tf.memory().numTensors, before);
  await predictor.dispose();
});

Deno.test("Grad-CAM refuses a model whose head is not a chain after the feature map", async () => {
  const input = tfl.input({ shape: [8, 8, 1] });
  const conv = tfl.layers.conv2d({ filters: 2, kernelSize: 3, padding: "same", name: "conv" }).apply(
    input,
  ) as tfl.SymbolicTensor;
  const a = tfl.layers.globalAveragePooling2d({ name: "gap" }).apply(conv) as tfl.SymbolicTensor;
  const b = tfl.layers.globalMaxPooling2d({ name: "gmp" }).apply(conv) as tfl.SymbolicTensor;
  const both = tfl.layers.concatenate({ name: "cat" }).apply([a, b]) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, name: "out" }).apply(both) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  await assert.rejects(gradCam(model, new Uint8Array(64)), TypeError);
  model.dispose();
});
