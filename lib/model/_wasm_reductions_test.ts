import assert from "node:assert/strict";
import { selectBackend } from "./backend.ts";
import { tf } from "./tf.ts";
import { seeded } from "./_testing.ts";
import { WASM_REDUCTION_KERNELS } from "./_wasm_reductions.ts";

interface Case {
  shape: number[];
  axis: number | number[];
  keepDims?: boolean;
}

const CASES: Case[] = [
  { shape: [2, 6, 5, 7], axis: [0, 1, 2] }, // BatchNorm's reductions, batch > 1
  { shape: [3, 4, 4, 9], axis: [0, 1, 2], keepDims: true },
  { shape: [1, 3, 3, 5], axis: [2, 0, 1] }, // unordered
  { shape: [2, 33, 17, 3], axis: [-4, -3, -2] },
  { shape: [5, 8], axis: 0 },
  { shape: [4, 3, 6], axis: [0, 1], keepDims: true },
  { shape: [2, 3, 4, 5], axis: [0] },
  // other axes: the original kernel
  { shape: [2, 3, 4, 5], axis: [1, 2] },
  { shape: [2, 3, 4, 5], axis: [0, 1, 2, 3] },
  { shape: [2, 3, 4, 5], axis: 3, keepDims: true },
  { shape: [6], axis: 0 },
];

async function reduce(
  c: Case,
  op: "sum" | "mean",
): Promise<{ out: Float32Array; shape: number[]; leaked: number }> {
  const before = tf.memory().numTensors;
  const x = tf.tensor(seeded(c.shape.reduce((a, b) => a * b), 7), c.shape);
  const y = tf[op](x, c.axis, c.keepDims);
  const result = { out: await y.data() as Float32Array, shape: y.shape };
  tf.dispose([x, y]);
  return { ...result, leaked: tf.memory().numTensors - before };
}

Deno.test("wasm_reductions: Sum and Mean match the cpu backend on leading and other axes", async () => {
  for (const op of ["sum", "mean"] as const) {
    for (const c of CASES) {
      const where = `${op} ${JSON.stringify(c)}`;
      await selectBackend("cpu");
      const expected = await reduce(c, op);
      await selectBackend("wasm");
      const actual = await reduce(c, op);
      assert.deepEqual(actual.shape, expected.shape, where);
      const scale = Math.max(1, ...expected.out.map(Math.abs));
      expected.out.forEach((v, i) => {
        assert.ok(Math.abs(actual.out[i]! - v) <= 1e-4 * scale, `${where} [${i}]: ${actual.out[i]} vs ${v}`);
      });
      assert.equal(actual.leaked, 0, `${where}: tensors leaked`);
    }
  }
});

Deno.test("wasm_reductions: a large leading-axis sum (a DenseNet shape) matches a float64 sum", async () => {
  await selectBackend("wasm");
  const shape = [2, 56, 56, 128], c = 128, rows = 2 * 56 * 56;
  const data = seeded(rows * c, 11);
  const x = tf.tensor4d(data, shape as [number, number, number, number]);
  const [sum, mean] = [await tf.sum(x, [0, 1, 2]).data(), await tf.mean(x, [0, 1, 2]).data()];
  const expected = new Float64Array(c);
  for (let r = 0; r < rows; r++) for (let k = 0; k < c; k++) expected[k]! += data[r * c + k]!;
  const scale = Math.max(...expected.map(Math.abs));
  for (let k = 0; k < c; k++) {
    assert.ok(Math.abs(sum[k]! - expected[k]!) <= 1e-4 * scale, `sum[${k}]`);
    assert.ok(Math.abs(mean[k]! - expected[k]! / rows) <= 1e-4 * scale / rows, `mean[${k}]`);
  }
  tf.dispose(x);
});

Deno.test("wasm_reductions: the kernels free their intermediates in wasm memory", async () => {
  await selectBackend("wasm");
  const wrapped = (k: string) =>
    (tf.getKernel(k, "wasm")!.kernelFunc as unknown as Record<symbol, unknown>)[
      Symbol.for("cxr.wasmReduction")
    ];
  assert.ok(WASM_REDUCTION_KERNELS.every(wrapped));
  for (const op of ["sum", "mean"] as const) {
    for (const c of CASES) {
      await reduce(c, op); // warm up
      // deno-lint-ignore no-explicit-any
      const backend = tf.backend() as any;
      const [bytes, ids] = [tf.memory().numBytes, backend.dataIdMap.numDataIds()];
      await reduce(c, op);
      assert.equal(tf.memory().numBytes, bytes, JSON.stringify(c));
      assert.equal(backend.dataIdMap.numDataIds(), ids, JSON.stringify(c));
    }
  }
});
