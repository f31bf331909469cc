/**
 * Where onnxruntime-node keeps its native binding and provider libraries, found without loading the addon: the
 * ONNX Runtime predictor and training engine look there for the cuda provider, and the doctor checks the same
 * folder.
 *
 * @module
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * Folder of onnxruntime-node's native binding for this platform (`bin/napi-v6/<os>/<arch>` in the package),
 * where its install script puts the cuda provider libraries; the package is resolved, never loaded.
 *
 * @returns The folder, or `undefined` when onnxruntime-node cannot be resolved (not installed).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = onnxNativeDir(); // undefined only where onnxruntime-node is not installed
 * if (dir) assert.match(dir, /onnxruntime-node\/bin\/napi-v6\//);
 * ```
 */
export function onnxNativeDir(): string | undefined {
  let main: string;
  try {
    main = createRequire(import.meta.url).resolve("onnxruntime-node");
  } catch {
    return undefined;
  }
  const arch = Deno.build.arch === "x86_64" ? "x64" : "arm64";
  return join(dirname(main), "..", "bin", "napi-v6", Deno.build.os, arch);
}
