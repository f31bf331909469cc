/**
 * Gradient kernels the wasm backend lacks, so models can train on it.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22.0 registers no `Conv2DBackpropFilter`, which every trainable
 * convolution needs, and its `Conv2DBackpropInput` is a plain loop about 9x slower than its forward
 * convolution. {@link registerWasmGradientKernels} adds one composed from kernels wasm does have
 * (PadV2, StridedSlice, Reshape, Transpose, BatchMatMul, Concat), so the heavy part runs in wasm's matrix multiply:
 *
 *   dW[i, j, :, :] = X_ij^T · dY, where X_ij = x_padded[:, i + s_h·oh, j + s_w·ow, :] reshaped to [N, C_in]
 *
 * one matrix product per filter tap (1 for 1x1, 9 for 3x3, 49 for 7x7 convolutions), computed as
 * (dY^T · X_ij)^T because wasm's matrix multiply is only fast without a transposed first operand. Intermediates are
 * created and freed at the backend level, so the engine's tensor count is untouched.
 *
 * @module
 */
import { tf } from "./tf.ts";

type Info = tf.TensorInfo;
// deno-lint-ignore no-explicit-any
type Backend = any;

function _run(
  name: string,
  inputs: tf.NamedTensorInfoMap | Info[],
  attrs: tf.NamedAttrMap,
  backend: Backend,
): Info {
  const kernel = tf.getKernel(name, "wasm");
  if (!kernel) throw new Error(`wasm_gradients: the wasm backend has no "${name}" kernel`);
  return kernel.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, attrs, backend }) as Info;
}

function _free(backend: Backend, ...infos: Info[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/**
 * `Conv2DBackpropFilter` for wasm: the filter gradient of an NHWC 2-D convolution (dilation 1, as tfjs'
 * conv2d gradient requires).
 */
function conv2DBackpropFilter(
  args: { inputs: tf.NamedTensorInfoMap; backend: Backend; attrs?: tf.NamedAttrMap },
): Info {
  const { inputs, backend } = args;
  const { x, dy } = inputs as { x: Info; dy: Info };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (attrs.dataFormat !== "NHWC") {
    throw new RangeError(`Conv2DBackpropFilter (wasm): only NHWC is supported, got ${attrs.dataFormat}`);
  }
  const conv = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    "channelsLast",
  );
  const { batchSize: b, inHeight, inWidth, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } =
    conv;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, padInfo } = conv;
  const needH = fh - 1 + (oh - 1) * sh + 1;
  const needW = fw - 1 + (ow - 1) * sw + 1;
  const top = padInfo.top, left = padInfo.left;
  const bottom = Math.max(0, needH - top - inHeight), right = Math.max(0, needW - left - inWidth);
  const padded = top || left || bottom || right
    ? _run(
      "PadV2",
      { x },
      { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 },
      backend,
    )
    : null;
  const source = padded ?? x;
  const n = b * oh * ow;
  // wasm's BatchMatMul is only fast (XNNPACK) without transposeA, so transpose dy once and compute
  // dW_ij^T = dY^T · X_ij ([co, n] x [n, ci]) per tap, then transpose the small stacked result.
  const dy3 = _run("Reshape", { x: dy }, { shape: [1, n, co] }, backend);
  const dyT = _run("Transpose", { x: dy3 }, { perm: [0, 2, 1] }, backend);
  const taps: Info[] = [];
  try {
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        const whole = fh === 1 && fw === 1 && sh === 1 && sw === 1 && source.shape[1] === oh &&
          source.shape[2] === ow;
        const patch = whole ? null : _run("StridedSlice", { x: source }, {
          begin: [0, i, j, 0],
          end: [b, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, ci],
          strides: [1, sh, sw, 1],
          beginMask: 0,
          endMask: 0,
          ellipsisMask: 0,
          newAxisMask: 0,
          shrinkAxisMask: 0,
        }, backend);
        const x3 = _run("Reshape", { x: patch ?? source }, { shape: [1, n, ci] }, backend);
        taps.push(_run("BatchMatMul", { a: dyT, b: x3 }, { transposeA: false, transposeB: false }, backend));
        _free(backend, x3, ...(patch ? [patch] : []));
      }
    }
    const stacked = taps.length === 1 ? taps[0] : _run("Concat", taps, { axis: 0 }, backend); // [taps, co, ci]
    const swapped = _run("Transpose", { x: stacked }, { perm: [0, 2, 1] }, backend); // [taps, ci, co]
    const out = _run("Reshape", { x: swapped }, { shape: [fh, fw, ci, co] }, backend);
    if (stacked !== taps[0]) _free(backend, stacked);
    _free(backend, swapped);
    return out;
  } finally {
    _free(backend, dy3, dyT, ...taps, ...(padded ? [padded] : []));
  }
}

/**
 * `Conv2DBackpropInput` for stride-1 NHWC convolutions as a forward convolution of dy with the spatially
 * flipped, in/out-swapped filter (XNNPACK-backed `Conv2D`); wasm's own kernel, several times slower, is kept
 * for strided convolutions.
 */
function _conv2DBackpropInputVia(original: tf.KernelFunc) {
  return (args: { inputs: tf.NamedTensorInfoMap; backend: Backend; attrs?: tf.NamedAttrMap }): Info => {
    const { inputs, backend } = args;
    const { dy, filter } = inputs as { dy: Info; filter: Info };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const strides = Array.isArray(attrs.strides) ? attrs.strides : [attrs.strides, attrs.strides];
    if (attrs.dataFormat !== "NHWC" || strides[0] !== 1 || strides[1] !== 1) {
      return original(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
    }
    const conv = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape as [number, number, number, number],
      1,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      "channelsLast",
    );
    const { filterHeight: fh, filterWidth: fw, padInfo } = conv;
    const flipped = _run("Reverse", { x: filter }, { dims: [0, 1] }, backend);
    const swapped = _run("Transpose", { x: flipped }, { perm: [0, 1, 3, 2] }, backend);
    try {
      return _run("Conv2D", { x: dy, filter: swapped }, {
        strides: [1, 1],
        pad: [[0, 0], [fh - 1 - padInfo.top, fh - 1 - padInfo.bottom], [
          fw - 1 - padInfo.left,
          fw - 1 - padInfo.right,
        ], [
          0,
          0,
        ]],
        dataFormat: "NHWC",
        dilations: [1, 1],
        dimRoundingMode: attrs.dimRoundingMode,
      } as unknown as tf.NamedAttrMap, backend);
    } finally {
      _free(backend, flipped, swapped);
    }
  };
}

const WRAPPED = Symbol.for("cxr.wasmConv2DBackpropInput");

/**
 * Kernel names {@link registerWasmGradientKernels} adds to (or wraps in) the wasm backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.ok(WASM_GRADIENT_KERNELS.includes("Conv2DBackpropFilter"));
 * ```
 */
export const WASM_GRADIENT_KERNELS: readonly string[] = Object.freeze([
  "Conv2DBackpropFilter",
  "Conv2DBackpropInput",
]);

/**
 * Registers the missing gradient kernels for the `wasm` backend (and wraps `Conv2DBackpropInput` so stride-1
 * cases run as a fast forward convolution); calling it again does nothing. Call it
 * before training on wasm (`selectBackend("wasm")` does).
 *
 * @returns the kernel names newly registered by this call.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tf } from "./tf.ts";
 * registerWasmGradientKernels();
 * assert.ok(tf.getKernel("Conv2DBackpropFilter", "wasm"));
 * assert.deepEqual(registerWasmGradientKernels(), []);
 * ```
 */
export function registerWasmGradientKernels(): string[] {
  const added: string[] = [];
  if (!tf.getKernel("Conv2DBackpropFilter", "wasm")) {
    tf.registerKernel({
      kernelName: "Conv2DBackpropFilter",
      backendName: "wasm",
      kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
    });
    added.push("Conv2DBackpropFilter");
  }
  const input = tf.getKernel("Conv2DBackpropInput", "wasm");
  // deno-lint-ignore no-explicit-any
  if (input && !(input.kernelFunc as any)[WRAPPED]) {
    const kernelFunc = _conv2DBackpropInputVia(input.kernelFunc) as unknown as tf.KernelFunc;
    Object.defineProperty(kernelFunc, WRAPPED, { value: true });
    tf.unregisterKernel("Conv2DBackpropInput", "wasm");
    tf.registerKernel({ ...input, kernelFunc });
    added.push("Conv2DBackpropInput");
  }
  return added;
}
