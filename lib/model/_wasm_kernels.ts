// What the wasm kernels of _wasm_gradients.ts and _wasm_reductions.ts share: running one of wasm's own kernels
// on backend-level tensor infos (no engine tensors, so the engine's count is untouched), freeing them, and
// wrapping a registered kernel once.
import { tf } from "./tf.ts";

export type Info = tf.TensorInfo;
// deno-lint-ignore no-explicit-any
export type Backend = any;
/** A kernel function's argument. */
export type Args = { inputs: tf.NamedTensorInfoMap; backend: Backend; attrs?: tf.NamedAttrMap };

/** Runs wasm's kernel `name`; the caller owns (and frees) its output. */
export function run(
  name: string,
  inputs: tf.NamedTensorInfoMap | Info[],
  attrs: tf.NamedAttrMap,
  backend: Backend,
): Info {
  const kernel = tf.getKernel(name, "wasm");
  if (!kernel) throw new Error(`wasm kernels: the wasm backend has no "${name}" kernel`);
  return kernel.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, attrs, backend }) as Info;
}

export function free(backend: Backend, ...infos: Info[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Calls the kernel a wrapper replaced. */
export function callOriginal(original: tf.KernelFunc, args: Args): Info {
  return original(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
}

/**
 * Replaces each of wasm's kernels named in `wrappers` by its wrapper around the original, marking the replacement
 * with `tag` so that calling it again wraps nothing twice.
 *
 * @returns the kernel names wrapped by this call.
 */
export function wrapWasmKernels(
  tag: symbol,
  wrappers: Record<string, (original: tf.KernelFunc) => (args: Args) => Info>,
): string[] {
  const wrapped: string[] = [];
  for (const [name, wrap] of Object.entries(wrappers)) {
    const config = tf.getKernel(name, "wasm");
    // deno-lint-ignore no-explicit-any
    if (!config || (config.kernelFunc as any)[tag]) continue;
    const kernelFunc = wrap(config.kernelFunc) as unknown as tf.KernelFunc;
    Object.defineProperty(kernelFunc, tag, { value: true });
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel({ ...config, kernelFunc });
    wrapped.push(name);
  }
  return wrapped;
}
