import assert from "node:assert/strict";
import { selectBackend } from "./backend.ts";
import { tf } from "./tf.ts";
import { maxRelDiff, seeded } from "./_testing.ts";
import { WASM_GRADIENT_KERNELS } from "./_wasm_gradients.ts";

interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: number;
  pad: Parameters<typeof tf.conv2d>[3];
}

const CASES: Case[] = [
  { x: [1, 5, 5, 2], f: [3, 3, 2, 3], strides: 1, pad: "same" },
  { x: [2, 6, 6, 3], f: [3, 3, 3, 4], strides: 2, pad: "same" },
  { x: [1, 7, 6, 2], f: [3, 2, 2, 2], strides: 1, pad: "valid" },
  { x: [2, 11, 11, 3], f: [7, 7, 3, 4], strides: 2, pad: "valid" },
  { x: [2, 4, 4, 5], f: [1, 1, 5, 6], strides: 1, pad: "valid" },
  { x: [1, 5, 5, 2], f: [1, 1, 2, 3], strides: 2, pad: "same" },
  { x: [1, 6, 7, 2], f: [3, 3, 2, 2], strides: 2, pad: 1 },
  { x: [1, 6, 6, 2], f: [3, 3, 2, 2], strides: 1, pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
  // more input than output channels (DenseNet's bottlenecks), inputs the filter does not reach, odd strides
  { x: [2, 6, 6, 8], f: [3, 3, 8, 4], strides: 2, pad: "same" },
  { x: [3, 5, 5, 12], f: [1, 1, 12, 5], strides: 1, pad: "valid" },
  { x: [2, 8, 9, 3], f: [3, 3, 3, 2], strides: 2, pad: "valid" },
  { x: [2, 9, 9, 2], f: [7, 7, 2, 5], strides: 2, pad: "same" },
  { x: [2, 10, 7, 3], f: [2, 3, 3, 4], strides: 3, pad: "valid" },
  // DenseNet's stem (7x7/2, same) on a small image; a padding beyond the filter (the original kernel runs)
  { x: [2, 32, 30, 3], f: [7, 7, 3, 8], strides: 2, pad: "same" },
  { x: [1, 7, 7, 2], f: [3, 3, 2, 2], strides: 2, pad: 4 },
];

/** Gradients of sum(conv2d(x, f) * r) w.r.t. x and f on the active backend. */
async function convGrads(c: Case): Promise<{ dx: Float32Array; df: Float32Array; count: number }> {
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(seeded(c.x.reduce((a, b) => a * b), 1), c.x);
  const f = tf.tensor4d(seeded(c.f.reduce((a, b) => a * b), 2), c.f);
  const outShape = tf.tidy(() => tf.conv2d(x, f, c.strides, c.pad).shape);
  const r = tf.tensor(seeded(outShape.reduce((a, b) => a * b), 3), outShape);
  const loss = (a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad), r));
  const [dx, df] = tf.grads(loss)([x, f]) as [tf.Tensor, tf.Tensor];
  const result = { dx: await dx.data() as Float32Array, df: await df.data() as Float32Array };
  tf.dispose([x, f, r, dx, df]);
  return { ...result, count: tf.memory().numTensors - before };
}

Deno.test("wasm_gradients: Conv2DBackpropFilter matches the cpu backend for several shapes, strides and paddings", async () => {
  for (const c of CASES) {
    await selectBackend("cpu");
    const expected = await convGrads(c);
    await selectBackend("wasm");
    const actual = await convGrads(c);
    const where = JSON.stringify(c);
    for (const d of ["df", "dx"] as const) {
      const diff = maxRelDiff(actual[d], expected[d]); // |a - b| <= 1e-4 (1 + |b|) everywhere
      assert.ok(diff <= 1e-4, `${where} ${d} differs by ${diff}`);
    }
    assert.equal(actual.count, 0, `${where}: tensors leaked`);
  }
});

Deno.test("wasm_gradients: a filter gradient too large for one gathered operand (16 Mi floats) splits its taps", async () => {
  // 9 taps x 8 channels x 360,000 pixels: two products. The reference is summed in float64 here; float32
  // sums over 360,000 terms (cpu's, or XNNPACK's in one product) drift by about 1e-6 of the largest entry,
  // so the tolerance is 1e-4 of that entry.
  const [h, w, ci, co] = [600, 600, 8, 2];
  const c: Case = { x: [1, h, w, ci], f: [3, 3, ci, co], strides: 1, pad: "same" };
  await selectBackend("wasm");
  const actual = await convGrads(c);
  const x = seeded(h * w * ci, 1), r = seeded(h * w * co, 3);
  const expected = new Float64Array(actual.df.length);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      for (let k = 0; k < ci; k++) {
        for (let o = 0; o < co; o++) {
          let sum = 0;
          for (let y = Math.max(0, 1 - i); y < Math.min(h, h + 1 - i); y++) {
            for (let z = Math.max(0, 1 - j); z < Math.min(w, w + 1 - j); z++) {
              sum += x[((y + i - 1) * w + z + j - 1) * ci + k]! * r[(y * w + z) * co + o]!;
            }
          }
          expected[((i * 3 + j) * ci + k) * co + o] = sum;
        }
      }
    }
  }
  const scale = Math.max(...expected.map(Math.abs));
  actual.df.forEach((v, i) => {
    assert.ok(Math.abs(v - expected[i]!) <= 1e-4 * scale, `df[${i}]: ${v} vs ${expected[i]}`);
  });
  assert.equal(actual.count, 0);
});

Deno.test("wasm_gradients: the kernel frees its intermediates in wasm memory", async () => {
  await selectBackend("wasm");
  assert.ok(WASM_GRADIENT_KERNELS.every((k) => tf.getKernel(k, "wasm")));
  for (const c of CASES) {
    await convGrads(c); // warm up
    const before = tf.memory().numBytes;
    // deno-lint-ignore no-explicit-any
    const backend = tf.backend() as any;
    const buffersBefore = backend.dataIdMap.numDataIds();
    await convGrads(c);
    assert.equal(tf.memory().numBytes, before, JSON.stringify(c));
    assert.equal(backend.dataIdMap.numDataIds(), buffersBefore, JSON.stringify(c));
  }
});

Deno.test("wasm_gradients: MaxPoolGrad matches cpu (ties included: the first maximum wins, as in cpu and PyTorch) without leaks", async () => {
  // (wasm's own kernel does not: 0.43 off on a 2x2/2 valid pool of [1, 8, 8, 4] without ties, 0.75 on case 1.)
  const cases: { x: [number, number, number, number]; f: number; s: number; pad: "same" | "valid" }[] = [
    { x: [2, 12, 12, 5], f: 3, s: 2, pad: "same" }, // DenseNet's stem pool
    { x: [2, 9, 7, 3], f: 3, s: 2, pad: "valid" },
    { x: [1, 8, 8, 4], f: 2, s: 2, pad: "valid" },
    { x: [3, 7, 9, 2], f: 3, s: 1, pad: "same" },
  ];
  const grad = async (c: (typeof cases)[number]) => {
    const before = tf.memory().numTensors;
    // ReLU'd and rounded: many windows hold equal maxima, so the choice among ties is tested
    const size = c.x.reduce((a, b) => a * b);
    const x = tf.tensor4d(seeded(size, 8).map((v) => Math.max(0, Math.round(v * 3))), c.x);
    const outShape = tf.tidy(() => tf.maxPool(x, c.f, c.s, c.pad).shape);
    const r = tf.tensor(seeded(outShape.reduce((a, b) => a * b), 9), outShape);
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(t as tf.Tensor4D, c.f, c.s, c.pad), r)))(x);
    const values = await dx.data() as Float32Array;
    tf.dispose([x, r, dx]);
    return { values, leaked: tf.memory().numTensors - before };
  };
  for (const c of cases) {
    await selectBackend("cpu");
    const expected = await grad(c);
    await selectBackend("wasm");
    const actual = await grad(c);
    assert.equal(actual.leaked, 0, JSON.stringify(c));
    const diff = maxRelDiff(actual.values, expected.values);
    assert.ok(diff <= 1e-4, `${JSON.stringify(c)} dx differs by ${diff}`);
  }
});
