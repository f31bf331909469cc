/**
 * Gradient kernels the wasm backend lacks or runs slowly, so models can train on it.
 *
 * `@tensorflow/tfjs-backend-wasm` 4.22.0 registers no `Conv2DBackpropFilter`, which every trainable
 * convolution needs, and its `Conv2DBackpropInput` and `MaxPoolGrad` are plain loops.
 * {@link registerWasmGradientKernels} adds or wraps them so that the heavy part runs in wasm's matrix multiply
 * and forward convolution (XNNPACK).
 *
 * @module
 */
import { tf } from "./tf.ts";
import {
  type Args,
  type Backend,
  callOriginal,
  free,
  type Info,
  run,
  wrapWasmKernels,
} from "./_wasm_kernels.ts";

/** tfjs' geometry of an NHWC convolution with dilation 1. */
function convInfo(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  attrs: { pad: tf.Conv2DBackpropInputAttrs["pad"]; dimRoundingMode?: "floor" | "round" | "ceil" },
): tf.backend_util.Conv2DInfo {
  type Shape4 = [number, number, number, number];
  const { pad, dimRoundingMode } = attrs;
  return tf.backend_util.computeConv2DInfo(
    xShape as Shape4,
    filterShape as Shape4,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
}

/** Most floats one gathered operand of {@link conv2DBackpropFilter} may hold (64 MiB); more taps split it. */
const GATHER_LIMIT = 1 << 24;

/**
 * `Conv2DBackpropFilter` for wasm: the filter gradient of an NHWC 2-D convolution (dilation 1, as tfjs'
 * conv2d gradient requires), as one large matrix product (`taps·ci × Q` times `Q × co`) per group of taps.
 *
 * The padded input is split into its `s_h·s_w` stride phases, each a grid of `gh × gw` pixels per image
 * (gh = oh + ⌈fh/s_h⌉ − 1), and dy is zero-padded to the same grid (Q = batch·gh·gw pixels). Flattened, tap
 * (i, j) is a constant shift `off = ⌊i/s_h⌋·gw + ⌊j/s_w⌋` within its phase:
 *
 *   dW[i, j, c, :] = Σ_p xᵀ_phase[c, p + off] · dy_grid[p, :]
 *
 * so the rows of every tap are contiguous runs of the transposed phase, copied into one `taps·ci × Q`
 * operand, and dy is the second operand of a single product: XNNPACK packs its second operand on every call,
 * so one product per tap cost more in packing than in arithmetic. The extra grid columns (zeros in dy) add
 * `gh·gw/(oh·ow)` − 1 of work: 7 % at 56x56, 65 % at DenseNet's 7x7 blocks, where it is small anyway.
 */
function conv2DBackpropFilter(args: Args): Info {
  const { inputs, backend } = args;
  const { x, dy } = inputs as { x: Info; dy: Info };
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (attrs.dataFormat !== "NHWC") {
    throw new RangeError(`Conv2DBackpropFilter (wasm): only NHWC is supported, got ${attrs.dataFormat}`);
  }
  const conv = convInfo(x.shape, attrs.filterShape, attrs.strides, attrs);
  const { batchSize: b, inHeight, inWidth, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } =
    conv;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, padInfo } = conv;
  const th = Math.ceil(fh / sh), tw = Math.ceil(fw / sw); // taps per phase along each axis
  const gh = oh + th - 1, gw = ow + tw - 1; // the grid of one phase
  const q = b * gh * gw;
  const maxOff = (th - 1) * gw + (tw - 1);
  const temps: Info[] = [];
  const keep = (info: Info) => (temps.push(info), info);
  try {
    // x cropped and padded to [b, gh·sh, gw·sw, ci]: row r of the grid is input row r − top.
    const top = padInfo.top, left = padInfo.left;
    const rows = Math.min(inHeight, gh * sh - top), cols = Math.min(inWidth, gw * sw - left);
    let xg = x;
    if (rows < inHeight || cols < inWidth) {
      xg = keep(run("Slice", { x }, { begin: [0, 0, 0, 0], size: [b, rows, cols, ci] }, backend));
    }
    if (top || left || gh * sh - top - rows || gw * sw - left - cols) {
      xg = keep(run("PadV2", { x: xg }, {
        paddings: [[0, 0], [top, gh * sh - top - rows], [left, gw * sw - left - cols], [0, 0]],
        constantValue: 0,
      }, backend));
    }
    // Each phase as [ci, Q + maxOff]: transposed, with maxOff zero columns so every shifted run fits.
    const phases = new Map<number, Info>();
    const phase = (pi: number, pj: number): Info => {
      const key = pi * sw + pj;
      if (phases.has(key)) return phases.get(key)!;
      let p = xg;
      if (sh > 1 || sw > 1) {
        // Every sh-th row and sw-th column from (pi, pj), gathered in JS: wasm's StridedSlice took ~7 ms per
        // phase of DenseNet's stem (4 phases of [2, 115, 115, 3]).
        p = keep(backend.makeOutput([b, gh, gw, ci], "float32") as Info);
        const dst = backend.typedArrayFromHeap(p) as Float32Array; // views taken after the allocation
        const src = backend.typedArrayFromHeap(xg) as Float32Array;
        const rowsIn = gh * sh, colsIn = gw * sw;
        for (let n = 0, d = 0; n < b; n++) {
          for (let r = 0; r < gh; r++) {
            for (let c = 0; c < gw; c++) {
              const s0 = ((n * rowsIn + r * sh + pi) * colsIn + c * sw + pj) * ci;
              for (let k = 0; k < ci; k++) dst[d++] = src[s0 + k]!;
            }
          }
        }
      }
      let flat = keep(run("Reshape", { x: p }, { shape: [q, ci] }, backend));
      if (maxOff) {
        flat = keep(
          run("PadV2", { x: flat }, { paddings: [[0, maxOff], [0, 0]], constantValue: 0 }, backend),
        );
      }
      const t = keep(run("Transpose", { x: flat }, { perm: [1, 0] }, backend));
      phases.set(key, t);
      return t;
    };
    let dyg = dy;
    if (gh > oh || gw > ow) {
      dyg = keep(run("PadV2", { x: dy }, {
        paddings: [[0, 0], [0, gh - oh], [0, gw - ow], [0, 0]],
        constantValue: 0,
      }, backend));
    }
    const dy3 = keep(run("Reshape", { x: dyg }, { shape: [1, q, co] }, backend));
    const taps: [number, number][] = [];
    for (let i = 0; i < fh; i++) for (let j = 0; j < fw; j++) taps.push([i, j]);
    const perGroup = Math.max(1, Math.floor(GATHER_LIMIT / (ci * q)));
    const parts: Info[] = [];
    for (let start = 0; start < taps.length; start += perGroup) {
      const group = taps.slice(start, start + perGroup);
      for (const [i, j] of group) phase(i % sh, j % sw);
      if (taps.length === 1 && maxOff === 0) { // 1x1, stride 1: the transposed input is the operand
        const a = keep(run("Reshape", { x: phase(0, 0) }, { shape: [1, ci, q] }, backend));
        parts.push(
          keep(run("BatchMatMul", { a, b: dy3 }, { transposeA: false, transposeB: false }, backend)),
        );
        continue;
      }
      // The gathered operand [group·ci, Q]: row (tap, c) is phase row c from column off on.
      const a = keep(backend.makeOutput([1, group.length * ci, q], "float32") as Info);
      const out = backend.typedArrayFromHeap(a) as Float32Array;
      const width = q + maxOff;
      group.forEach(([i, j], t) => {
        const src = backend.typedArrayFromHeap(phases.get((i % sh) * sw + (j % sw))!) as Float32Array;
        const off = Math.floor(i / sh) * gw + Math.floor(j / sw);
        for (let c = 0; c < ci; c++) {
          out.set(src.subarray(c * width + off, c * width + off + q), (t * ci + c) * q);
        }
      });
      parts.push(
        keep(run("BatchMatMul", { a, b: dy3 }, { transposeA: false, transposeB: false }, backend)),
      );
    }
    const all = parts.length === 1 ? parts[0] : keep(run("Concat", parts, { axis: 1 }, backend));
    return run("Reshape", { x: all }, { shape: [fh, fw, ci, co] }, backend);
  } finally {
    free(backend, ...temps);
  }
}

/**
 * The filter `[fh, fw, ci, co]` flipped in both spatial axes with its channel axes swapped, `[fh, fw, co, ci]`,
 * in one pass over the wasm heap: wasm's Reverse kernel took about 30 ns per element (DenseNet: 0.2 s per
 * training step at any image size).
 */
function flipSwap(filter: Info, backend: Backend): Info {
  const [fh, fw, ci, co] = filter.shape as [number, number, number, number];
  const out = backend.makeOutput([fh, fw, co, ci], "float32") as Info;
  const dst = backend.typedArrayFromHeap(out) as Float32Array; // views taken after the allocation
  const src = backend.typedArrayFromHeap(filter) as Float32Array;
  for (let i = 0; i < fh; i++) {
    for (let j = 0; j < fw; j++) {
      const s0 = (i * fw + j) * ci * co, d0 = ((fh - 1 - i) * fw + (fw - 1 - j)) * co * ci;
      for (let o = 0; o < co; o++) {
        const d = d0 + o * ci;
        for (let c = 0; c < ci; c++) dst[d + c] = src[s0 + c * co + o]!;
      }
    }
  }
  return out;
}

/**
 * `Conv2DBackpropInput` for a strided NHWC convolution as one stride-1 forward convolution plus a JS scatter.
 *
 * Input row `y` of phase `p = (y + top) mod s` (row `m = ⌊(y + top)/s⌋` of that phase) only receives taps
 * `i = p + s·a`: `dx[y] = Σ_a dy[m − a] · W[p + s·a]`. With `T = ⌈fh/s⌉` taps per phase (missing taps zero),
 * every phase is the same `T x T` correlation of dy, so all `s_h·s_w` phases come out of one `Conv2D` whose
 * output channels are (phase, input channel): filter `[T_h, T_w, co, s_h·s_w·ci]`, flipped. wasm's own
 * strided kernel is a plain loop (DenseNet's 7x7/2 stem: about 200 ms per step at 224 px). Returns null
 * when the padding exceeds the filter (a negative pad would be needed); the caller then runs the original.
 */
function stridedBackpropInput(
  dy: Info,
  filter: Info,
  attrs: tf.Conv2DBackpropInputAttrs,
  backend: Backend,
): Info | null {
  const [sh, sw] = Array.isArray(attrs.strides) ? attrs.strides : [attrs.strides, attrs.strides];
  const conv = convInfo(attrs.inputShape, filter.shape, [sh, sw], attrs);
  const { batchSize: b, inHeight: ih, inWidth: iw, inChannels: ci, outHeight: oh, outWidth: ow } = conv;
  const { filterHeight: fh, filterWidth: fw, outChannels: co, padInfo } = conv;
  const { top, left } = padInfo;
  if (top < 0 || left < 0 || top > fh - 1 || left > fw - 1) return null;
  const th = Math.ceil(fh / sh), tw = Math.ceil(fw / sw);
  const mLo = Math.floor(top / sh), nLo = Math.floor(left / sw);
  const lh = Math.floor((ih - 1 + top) / sh) - mLo + 1, lw = Math.floor((iw - 1 + left) / sw) - nLo + 1;
  const p1h = th - 1 - mLo, p1w = tw - 1 - nLo;
  const p2h = Math.max(0, lh - oh - p1h + th - 1), p2w = Math.max(0, lw - ow - p1w + tw - 1);
  const phases = sh * sw, wide = phases * ci;
  // Filter [th, tw, co, phases·ci]: entry (a', b', o, (pi·sw + pj)·ci + c) = W[pi + sh(th−1−a'), pj + sw(tw−1−b'), c, o].
  const f = backend.makeOutput([th, tw, co, wide], "float32") as Info;
  let out: Info | undefined;
  try {
    const dst = backend.typedArrayFromHeap(f) as Float32Array;
    const src = backend.typedArrayFromHeap(filter) as Float32Array;
    dst.fill(0);
    for (let a = 0; a < th; a++) {
      for (let bb = 0; bb < tw; bb++) {
        for (let pi = 0; pi < sh; pi++) {
          const i = pi + sh * (th - 1 - a);
          if (i >= fh) continue;
          for (let pj = 0; pj < sw; pj++) {
            const j = pj + sw * (tw - 1 - bb);
            if (j >= fw) continue;
            const s0 = (i * fw + j) * ci * co, d0 = (a * tw + bb) * co * wide + (pi * sw + pj) * ci;
            for (let o = 0; o < co; o++) {
              for (let c = 0; c < ci; c++) dst[d0 + o * wide + c] = src[s0 + c * co + o]!;
            }
          }
        }
      }
    }
    out = run("Conv2D", { x: dy, filter: f }, {
      strides: [1, 1],
      pad: [[0, 0], [p1h, p2h], [p1w, p2w], [0, 0]],
      dataFormat: "NHWC",
      dilations: [1, 1],
    } as unknown as tf.NamedAttrMap, backend);
    const [, rh, rw] = out.shape as [number, number, number, number]; // at least lh x lw
    const dx = backend.makeOutput([b, ih, iw, ci], "float32") as Info;
    const res = backend.typedArrayFromHeap(out) as Float32Array; // views taken after the allocation
    const dxv = backend.typedArrayFromHeap(dx) as Float32Array;
    for (let n = 0; n < b; n++) {
      for (let y = 0; y < ih; y++) {
        const m = Math.floor((y + top) / sh), pi = y + top - sh * m;
        const rowBase = (n * rh + m - mLo) * rw;
        for (let x = 0; x < iw; x++) {
          const q = Math.floor((x + left) / sw), pj = x + left - sw * q;
          const s0 = (rowBase + q - nLo) * wide + (pi * sw + pj) * ci, d0 = ((n * ih + y) * iw + x) * ci;
          for (let c = 0; c < ci; c++) dxv[d0 + c] = res[s0 + c]!;
        }
      }
    }
    return dx;
  } finally {
    free(backend, f, ...(out ? [out] : []));
  }
}

/**
 * `Conv2DBackpropInput` for stride-1 NHWC convolutions as a forward convolution of dy with the spatially
 * flipped, in/out-swapped filter (XNNPACK-backed `Conv2D`), strided ones through
 * {@link stridedBackpropInput}; wasm's own kernel, several times slower, is kept for what neither covers.
 */
function conv2DBackpropInputVia(original: tf.KernelFunc) {
  return (args: Args): Info => {
    const { inputs, backend } = args;
    const { dy, filter } = inputs as { dy: Info; filter: Info };
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    const strides = Array.isArray(attrs.strides) ? attrs.strides : [attrs.strides, attrs.strides];
    if (attrs.dataFormat !== "NHWC") return callOriginal(original, args);
    if (strides[0] !== 1 || strides[1] !== 1) {
      return stridedBackpropInput(dy, filter, attrs, backend) ?? callOriginal(original, args);
    }
    const { filterHeight: fh, filterWidth: fw, padInfo } = convInfo(attrs.inputShape, filter.shape, 1, attrs);
    const swapped = flipSwap(filter, backend);
    try {
      return run("Conv2D", { x: dy, filter: swapped }, {
        strides: [1, 1],
        pad: [
          [0, 0],
          [fh - 1 - padInfo.top, fh - 1 - padInfo.bottom],
          [fw - 1 - padInfo.left, fw - 1 - padInfo.right],
          [0, 0],
        ],
        dataFormat: "NHWC",
        dilations: [1, 1],
        dimRoundingMode: attrs.dimRoundingMode,
      } as unknown as tf.NamedAttrMap, backend);
    } finally {
      free(backend, swapped);
    }
  };
}

/**
 * `MaxPoolGrad` for wasm in one JavaScript pass over the heap: for each output pixel, the first maximum of its
 * window per channel (row-major window order, padding excluded, as wasm's and cpu's kernels choose) receives
 * dy. wasm's own kernel took about 15 ns per window tap (DenseNet's 3x3/2 stem pool: 54 ms per step at 224 px)
 * and disagrees with cpu's even without ties (0.43 off on a 2x2/2 valid pool of `[1, 8, 8, 4]`); this one matches.
 * Other than NHWC float32 with dilation 1, the original runs.
 */
function maxPoolGradVia(original: tf.KernelFunc) {
  return (args: Args): Info => {
    const { inputs, backend } = args;
    const { dy, input } = inputs as { dy: Info; input: Info };
    const attrs = args.attrs as unknown as tf.MaxPoolGradAttrs;
    if (input.dtype !== "float32" || dy.dtype !== "float32" || input.shape.length !== 4) {
      return callOriginal(original, args);
    }
    const p = tf.backend_util.computePool2DInfo(
      input.shape as [number, number, number, number],
      attrs.filterSize,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
    );
    const { batchSize: b, inHeight: ih, inWidth: iw, inChannels: c, outHeight: oh, outWidth: ow } = p;
    const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = p;
    const { top, left } = p.padInfo;
    const dx = backend.makeOutput(input.shape, "float32") as Info;
    const out = backend.typedArrayFromHeap(dx) as Float32Array; // views taken after the allocation
    const x = backend.typedArrayFromHeap(input) as Float32Array;
    const g = backend.typedArrayFromHeap(dy) as Float32Array;
    out.fill(0);
    const best = new Float32Array(c), at = new Int32Array(c);
    for (let n = 0; n < b; n++) {
      for (let oy = 0; oy < oh; oy++) {
        const y0 = oy * sh - top;
        for (let ox = 0; ox < ow; ox++) {
          const x0 = ox * sw - left;
          best.fill(-Infinity);
          at.fill(-1);
          for (let i = Math.max(0, -y0); i < fh && y0 + i < ih; i++) {
            for (let j = Math.max(0, -x0); j < fw && x0 + j < iw; j++) {
              const base = ((n * ih + y0 + i) * iw + x0 + j) * c;
              for (let k = 0; k < c; k++) {
                const v = x[base + k]!;
                if (v > best[k]!) {
                  best[k] = v;
                  at[k] = base + k;
                }
              }
            }
          }
          const d = ((n * oh + oy) * ow + ox) * c;
          for (let k = 0; k < c; k++) {
            const a = at[k]!;
            if (a >= 0) out[a]! += g[d + k]!;
          }
        }
      }
    }
    return dx;
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
  "MaxPoolGrad",
]);

/**
 * Registers and wraps the gradient kernels for the `wasm` backend (see the module doc); calling it again does
 * nothing. `selectBackend("wasm")` calls it.
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
  added.push(
    ...wrapWasmKernels(WRAPPED, { Conv2DBackpropInput: conv2DBackpropInputVia, MaxPoolGrad: maxPoolGradVia }),
  );
  return added;
}
