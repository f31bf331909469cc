/**
 * Gradient kernels the wasm backend lacks, so models can train on it.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22.0 registers no `Conv2DBackpropFilter`, which every trainable
 * convolution needs. {@link registerWasmGradientKernels} adds one composed from kernels wasm does have
 * (PadV2, StridedSlice, Reshape, BatchMatMul, Concat), so the heavy part runs in wasm's matrix multiply:
 *
 *   dW[i, j, :, :] = X_ij^T · dY, where X_ij = x_padded[:, i + s_h·oh, j + s_w·ow, :] reshaped to [N, C_in]
 *
 * one matrix product per filter tap (1 for 1x1, 9 for 3x3, 49 for 7x7 convolutions). Intermediates are
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
  const dy3 = _run("Reshape", { x: dy }, { shape: [1, n, co] }, backend);
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
        taps.push(_run("BatchMatMul", { a: x3, b: dy3 }, { transposeA: true, transposeB: false }, backend));
        _free(backend, x3, ...(patch ? [patch] : []));
      }
    }
    const stacked = taps.length === 1 ? taps[0] : _run("Concat", taps, { axis: 0 }, backend);
    const out = _run("Reshape", { x: stacked }, { shape: [fh, fw, ci, co] }, backend);
    if (stacked !== taps[0]) _free(backend, stacked);
    return out;
  } finally {
    _free(backend, dy3, ...taps, ...(padded ? [padded] : []));
  }
}

/** Kernel names {@link registerWasmGradientKernels} adds to the wasm backend. */
export const WASM_GRADIENT_KERNELS: readonly string[] = Object.freeze(["Conv2DBackpropFilter"]);

/**
 * Registers the missing gradient kernels for the `wasm` backend; calling it again does nothing. Call it
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
  return added;
}
