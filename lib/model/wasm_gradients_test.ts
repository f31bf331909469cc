import assert from "node:assert/strict";
import { selectBackend } from "./backend.ts";
import { tf } from "./tf.ts";
import { seeded } from "./_testing.ts";
import { WASM_GRADIENT_KERNELS } from "./wasm_gradients.ts";

type Pad = "same" | "valid" | number | [
  [number, number],
  [number, number],
  [number, number],
  [number, number],
];
interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: number;
  pad: Pad;
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
];

/** Gradients of sum(conv2d(x, f) * r) w.r.t. x and f on the active backend. */
async function convGrads(c: Case): Promise<{ dx: Float32Array; df: Float32Array; count: number }> {
  const before = tf.memory().numTensors;
  const x = tf.tensor4d(seeded(c.x.reduce((a, b) => a * b), 1), c.x);
  const f = tf.tensor4d(seeded(c.f.reduce((a, b) => a * b), 2), c.f);
  const outShape = tf.tidy(() => tf.conv2d(x, f, c.strides, c.pad).shape);
  const r = tf.tensor(seeded(outShape.reduce((a, b) => a * b), 3), outShape);
  const [dx, df] = tf.grads((a, b) =>
    tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad), r))
  )(
    [x, f],
  );
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
    assert.equal(actual.df.length, expected.df.length, where);
    for (let i = 0; i < expected.df.length; i++) {
      assert.ok(
        Math.abs(actual.df[i] - expected.df[i]) <= 1e-4 * (1 + Math.abs(expected.df[i])),
        `${where} df[${i}]`,
      );
    }
    for (let i = 0; i < expected.dx.length; i++) {
      assert.ok(
        Math.abs(actual.dx[i] - expected.dx[i]) <= 1e-4 * (1 + Math.abs(expected.dx[i])),
        `${where} dx[${i}]`,
      );
    }
    assert.equal(actual.count, 0, `${where}: tensors leaked`);
  }
});

Deno.test("wasm_gradients: the kernel frees its intermediates in wasm memory", async () => {
  await selectBackend("wasm");
  assert.ok(WASM_GRADIENT_KERNELS.every((k) => tf.getKernel(k, "wasm")));
  const c = CASES[3];
  await convGrads(c); // warm up
  const before = tf.memory().numBytes;
  // deno-lint-ignore no-explicit-any
  const backend = tf.backend() as any;
  const buffersBefore = backend.dataIdMap.numDataIds();
  await convGrads(c);
  assert.equal(tf.memory().numBytes, before);
  assert.equal(backend.dataIdMap.numDataIds(), buffersBefore);
});
