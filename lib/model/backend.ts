/**
 * Choosing the tfjs compute backend at run time: `tensorflow` (tfjs-node, optional), `webgpu`, `wasm`, `cpu`.
 *
 * @module
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { tf } from "./tf.ts";
import { registerWasmGradientKernels } from "./wasm_gradients.ts";
import { registerBatchNormGradient } from "./batch_norm_gradient.ts";

/**
 * The backends, best first; `auto` picks the first one that loads.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(BACKENDS, ["tensorflow", "webgpu", "wasm", "cpu"]);
 * ```
 */
export const BACKENDS = ["tensorflow", "webgpu", "wasm", "cpu"] as const;
/** One backend name. */
export type BackendName = typeof BACKENDS[number];

/** What happened when one backend was tried. */
export interface BackendAttempt {
  /** Backend tried. */
  name: BackendName;
  /** Whether it is now the active backend. */
  ok: boolean;
  /** Why it was chosen or why not. */
  reason: string;
}

/** Result of {@link selectBackend}. */
export interface BackendSelection {
  /** The active backend. */
  name: BackendName;
  /** Why this one (including what was skipped before it). */
  reason: string;
  /** Every backend tried, in order. */
  tried: BackendAttempt[];
}

/** Options for {@link selectBackend}. */
export interface SelectBackendOptions {
  /** Modules tried for the `tensorflow` backend, in order. @default tfjs-node-gpu, then tfjs-node (4.22.0) */
  tensorflowModules?: readonly string[];
  /** Folder or URL holding the `tfjs-backend-wasm*.wasm` files. @default the npm package's `dist/` folder */
  wasmPath?: string;
  /** In `auto`, accept a software WebGPU adapter (lavapipe/llvmpipe, slower than wasm). @default false */
  allowFallbackAdapter?: boolean;
}

/**
 * An explicitly requested backend could not be initialised; `tried` says why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new BackendUnavailableError("Cannot use the \"webgpu\" backend: no adapter", "webgpu", []);
 * assert.equal(e.backend, "webgpu");
 * ```
 */
export class BackendUnavailableError extends Error {
  /** The backend asked for. */
  backend: string;
  /** What was tried. */
  tried: BackendAttempt[];
  constructor(message: string, backend: string, tried: BackendAttempt[], options?: ErrorOptions) {
    super(message, options);
    this.name = "BackendUnavailableError";
    this.backend = backend;
    this.tried = tried;
  }
}

const TENSORFLOW_MODULES = ["npm:@tensorflow/tfjs-node-gpu@4.22.0", "npm:@tensorflow/tfjs-node@4.22.0"];

/**
 * The folder (as a `file:` URL ending in `/`) holding the wasm backend's `.wasm` files in `node_modules`.
 *
 * @throws {Error} when the package cannot be resolved from this module.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(defaultWasmPath(), /^file:.*tfjs-backend-wasm.*\/dist\/$/);
 * ```
 */
export function defaultWasmPath(): string {
  const main = createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm");
  return pathToFileURL(dirname(main)).href + "/";
}

function _message(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0];
}

async function _activate(name: string): Promise<void> {
  // setBackend only returns false on failure; run the factory through tf.ready() for the real error.
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend("${name}") failed to initialise the backend`);
  await tf.ready();
}

async function _try(name: BackendName, auto: boolean, options: SelectBackendOptions): Promise<string> {
  if (name === "tensorflow") {
    const errors: string[] = [];
    for (const spec of options.tensorflowModules ?? TENSORFLOW_MODULES) {
      try {
        await import(spec);
        if (tf.findBackendFactory("tensorflow")) {
          await _activate("tensorflow");
          return `loaded ${spec}`;
        }
        errors.push(`${spec} registered no "tensorflow" backend`);
      } catch (e) {
        errors.push(`${spec}: ${_message(e)}`);
      }
    }
    throw new Error(errors.join("; ") || "no tfjs-node module to try");
  }
  if (name === "webgpu") {
    // deno-lint-ignore no-explicit-any
    const gpu = (globalThis.navigator as any)?.gpu;
    if (!gpu) throw new Error("navigator.gpu is not available");
    const adapter = await gpu.requestAdapter();
    if (!adapter) throw new Error("navigator.gpu.requestAdapter() returned no adapter");
    const info = adapter.info ?? {};
    if (auto && info.isFallbackAdapter && !options.allowFallbackAdapter) {
      throw new Error(
        `only a software adapter (${info.description || "fallback"}) is present; wasm is faster`,
      );
    }
    await import("@tensorflow/tfjs-backend-webgpu");
    await _activate("webgpu");
    return `adapter ${info.description || info.vendor || "unknown"}`;
  }
  if (name === "wasm") {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    const path = options.wasmPath ?? defaultWasmPath();
    if (path.startsWith("file:") && !existsSync(new URL("tfjs-backend-wasm-simd.wasm", path))) {
      throw new Error(`no tfjs-backend-wasm-simd.wasm in ${path}`);
    }
    wasm.setWasmPaths(path);
    registerWasmGradientKernels();
    await _activate("wasm");
    return `wasm files from ${path}, SIMD ${tf.env().getBool("WASM_HAS_SIMD_SUPPORT") ? "on" : "off"}`;
  }
  await _activate("cpu");
  return "pure JavaScript (slow: tiny models only)";
}

/**
 * Makes `name` the active tfjs backend; `auto` tries {@link BACKENDS} in order and keeps the first that loads.
 * `tensorflow` needs `@tensorflow/tfjs-node(-gpu)` with its native library, imported dynamically only here.
 *
 * @param name a backend or `auto`.
 * @param options module locations and the software-adapter policy.
 * @returns the backend now active and what was tried.
 * @throws {TypeError} for an unknown name; {@link BackendUnavailableError} when an explicit backend fails.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const chosen = await selectBackend("cpu");
 * assert.equal(chosen.name, "cpu");
 * await assert.rejects(selectBackend("tpu" as "cpu"), TypeError);
 * ```
 */
export async function selectBackend(
  name: BackendName | "auto",
  options: SelectBackendOptions = {},
): Promise<BackendSelection> {
  if (name !== "auto" && !BACKENDS.includes(name)) {
    throw new TypeError(
      `selectBackend: unknown backend "${name}"; expected one of auto, ${BACKENDS.join(", ")}`,
    );
  }
  registerBatchNormGradient();
  const order = name === "auto" ? BACKENDS : [name];
  const tried: BackendAttempt[] = [];
  for (const candidate of order) {
    try {
      const reason = await _try(candidate, name === "auto", options);
      tried.push({ name: candidate, ok: true, reason });
      const skipped = tried.filter((t) => !t.ok).map((t) => `${t.name}: ${t.reason}`);
      return {
        name: candidate,
        reason: skipped.length ? `${reason} (skipped ${skipped.join("; ")})` : reason,
        tried,
      };
    } catch (e) {
      tried.push({ name: candidate, ok: false, reason: _message(e) });
      if (name !== "auto") {
        throw new BackendUnavailableError(
          `Cannot use the "${candidate}" backend: ${_message(e)}`,
          candidate,
          tried,
          { cause: e },
        );
      }
    }
  }
  throw new BackendUnavailableError(
    `No backend could be loaded: ${tried.map((t) => `${t.name}: ${t.reason}`).join("; ")}`,
    "auto",
    tried,
  );
}
