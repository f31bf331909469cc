/**
 * Faster `Sum` and `Mean` on the wasm backend for reductions over leading axes.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22.0 reduces only innermost axes, so `Sum`/`Mean` over the first three axes
 * of an NHWC tensor (BatchNorm's moments and its gradient: 850 calls per DenseNet-121 training step) first
 * transpose the whole input: 2 to 4 ms on `[2, 56, 56, 256]`. {@link registerWasmReductionKernels} wraps both so
 * that float32 reductions over axes `0..k-1` (k below the rank) run as one pooling of the `[rows, C]` matrix,
 * a tenth of the time with no transpose; every other case runs the original kernel.
 *
 * @module
 */
import { tf } from "./tf.ts";
import { type Args, callOriginal, free, type Info, run, wrapWasmKernels } from "./_wasm_kernels.ts";

/** The number of leading axes `axis` names when it is exactly `0..k-1` with `0 < k < rank`, else 0. */
function leadingAxes(axis: number | number[], shape: number[]): number {
  const axes = [...new Set(tf.util.parseAxisParam(axis, shape))].sort((a, b) => a - b);
  if (axes.length === 0 || axes.length >= shape.length) return 0;
  return axes.every((a, i) => a === i) ? axes.length : 0;
}

/**
 * A `Sum` (`mean: false`) or `Mean` (`mean: true`) kernel that runs leading-axis float32 reductions as an
 * average pool of `[1, rows, 1, cols]` over its `rows` and hands every other call to `original`.
 */
function reduceVia(original: tf.KernelFunc, mean: boolean) {
  return (args: Args): Info => {
    const { inputs, backend } = args;
    const { x } = inputs as { x: Info };
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const k = x.dtype === "float32" ? leadingAxes(axis, x.shape) : 0;
    const rows = tf.util.sizeFromShape(x.shape.slice(0, k));
    const cols = tf.util.sizeFromShape(x.shape.slice(k));
    if (k === 0 || rows === 0 || cols === 0) return callOriginal(original, args);
    const x4 = run("Reshape", { x }, { shape: [1, rows, 1, cols] }, backend);
    let pooled: Info;
    try {
      pooled = run("AvgPool", { x: x4 }, { filterSize: [rows, 1], strides: [1, 1], pad: "valid" }, backend);
    } finally {
      free(backend, x4);
    }
    if (!mean) {
      const out = backend.typedArrayFromHeap(pooled) as Float32Array;
      for (let i = 0; i < cols; i++) out[i]! *= rows;
    }
    const shape = keepDims ? [...x.shape.slice(0, k).map(() => 1), ...x.shape.slice(k)] : x.shape.slice(k);
    try {
      return run("Reshape", { x: pooled }, { shape }, backend);
    } finally {
      free(backend, pooled);
    }
  };
}

const WRAPPED = Symbol.for("cxr.wasmReduction");

/**
 * Kernel names {@link registerWasmReductionKernels} wraps in the wasm backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(WASM_REDUCTION_KERNELS, ["Sum", "Mean"]);
 * ```
 */
export const WASM_REDUCTION_KERNELS: readonly string[] = Object.freeze(["Sum", "Mean"]);

/**
 * Wraps wasm's `Sum` and `Mean` (see the module doc); calling it again does nothing. `selectBackend("wasm")`
 * calls it.
 *
 * @returns the kernel names wrapped by this call.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * registerWasmReductionKernels();
 * assert.deepEqual(registerWasmReductionKernels(), []);
 * ```
 */
export function registerWasmReductionKernels(): string[] {
  return wrapWasmKernels(WRAPPED, {
    Sum: (original) => reduceVia(original, false),
    Mean: (original) => reduceVia(original, true),
  });
}
