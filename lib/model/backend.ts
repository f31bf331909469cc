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
import { registerWasmGradientKernels } from "./_wasm_gradients.ts";
import { registerWasmReductionKernels } from "./_wasm_reductions.ts";
import { registerBatchNormGradient } from "./_batch_norm_gradient.ts";

export * from "./backend_report.ts";
import {
  type BackendAttempt,
  type BackendName,
  BackendReport,
  BACKENDS,
  BackendSelection,
  bestBackend,
} from "./backend_report.ts";
import { ModelError } from "./errors.ts";

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
export class BackendUnavailableError extends ModelError {
  constructor(
    message: string,
    readonly backend: string,
    readonly tried: BackendAttempt[],
    options?: ErrorOptions,
  ) {
    super(message, options);
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

/**
 * Whether a WebGPU adapter is a software rasteriser (Mesa's lavapipe/llvmpipe, SwiftShader, Microsoft's
 * WARP): its own `isFallbackAdapter` flag, or a vendor, architecture or description that names one.
 *
 * @param info the adapter's `info` (a `GPUAdapterInfo`), or any object with some of its fields.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(isSoftwareAdapter({ description: "llvmpipe (LLVM 15.0.6, 256 bits)" }), true);
 * assert.equal(isSoftwareAdapter({ vendor: "google", architecture: "swiftshader" }), true);
 * assert.equal(isSoftwareAdapter({ isFallbackAdapter: true }), true);
 * assert.equal(isSoftwareAdapter({ vendor: "nvidia", description: "Tesla V100-PCIE-16GB" }), false);
 * ```
 */
export function isSoftwareAdapter(info: {
  isFallbackAdapter?: boolean;
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}): boolean {
  if (info.isFallbackAdapter) return true;
  const text = [info.vendor, info.architecture, info.device, info.description].join(" ");
  return /llvmpipe|lavapipe|softpipe|swiftshader|basic render driver|\bwarp\b/i.test(text);
}

/**
 * Gives this process a private, empty `XDG_RUNTIME_DIR` (mode 0700, removed at unload) when it has none, before
 * the WebGPU probe: the Vulkan loader's Mesa device-select layer (and EGL's Wayland platform) otherwise print
 * `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` on stderr once per adapter request.
 *
 * @returns the folder it made, or `undefined` when the variable was already set (or the environment is
 *   read-only to this process).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * ensureRuntimeDir();
 * assert.match(Deno.env.get("XDG_RUNTIME_DIR") ?? "", /^\//);
 * ```
 */
export function ensureRuntimeDir(): string | undefined {
  try {
    if (Deno.env.get("XDG_RUNTIME_DIR")?.startsWith("/")) return undefined;
    const dir = Deno.makeTempDirSync({ prefix: "cxr-runtime-" });
    Deno.chmodSync(dir, 0o700);
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
    return dir;
  } catch {
    return undefined; // no --allow-env/--allow-write: the probe still works, only noisier
  }
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Replaces each absolute path or file URL by its last part: `/a/b/tfjs_binding.node` → `tfjs_binding.node`. */
function stripPaths(text: string): string {
  return text.replace(
    /(?<![\w.@-])(?:file:\/\/)?(?:\/[^\s/:;,'"()]+)+\/?/g,
    (path) => path.replace(/\/$/, "").split("/").at(-1) ?? path,
  );
}

const NOT_INSTALLED =
  /cannot find (?:module|package)|could not find|not a dependency|module not found|not found in/i;

/** One short line for an error message: known causes in a few words, else its first line without paths. */
function shortError(message: string): string {
  const first = (message.split("\n")[0] ?? "").trim();
  if (/tfjs_binding\.node/.test(first) && /can ?not be found|cannot find|no such file/i.test(first)) {
    return "native addon not built";
  }
  const lib = /(lib[\w+.-]+\.so(?:\.[\d.]+)?): cannot open shared object file/.exec(first);
  if (lib) return `missing ${lib[1]}`;
  if (NOT_INSTALLED.test(first)) return "package not installed";
  const short = stripPaths(first).replace(/\s+/g, " ").replace(/[.\s]+$/, "");
  return short.length > 80 ? `${short.slice(0, 79)}…` : short;
}

/** `npm:@tensorflow/tfjs-node-gpu@4.22.0` → `tfjs-node-gpu`; a path or URL → its file name. */
function moduleName(spec: string): string {
  if (spec.startsWith("data:")) return "inline module";
  return /^npm:(?:@[^/]+\/)?([^@]+)/.exec(spec)?.[1] ?? spec.split("/").at(-1) ?? spec;
}

async function activate(name: string): Promise<void> {
  // setBackend only returns false on failure; run the factory through tf.ready() for the real error.
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend("${name}") failed to initialise the backend`);
  await tf.ready();
}

type Found = Omit<BackendAttempt, "name" | "ok" | "usable">;

async function loadTensorflow(options: SelectBackendOptions): Promise<Found> {
  const failed: { spec: string; error: string }[] = [];
  for (const spec of options.tensorflowModules ?? TENSORFLOW_MODULES) {
    try {
      await import(spec);
      if (tf.findBackendFactory("tensorflow")) {
        await activate("tensorflow");
        return { reason: `${moduleName(spec)} (libtensorflow)`, details: `loaded ${spec}` };
      }
      failed.push({ spec, error: `registered no "tensorflow" backend` });
    } catch (e) {
      failed.push({ spec, error: errorMessage(e) });
    }
  }
  if (failed.length === 0) throw new Unusable("no tfjs-node module to try");
  const byCause = Map.groupBy(failed, (f) => shortError(f.error));
  const reason = [...byCause].map(([cause, fs]) =>
    `${fs.map((f) => moduleName(f.spec)).join(", ")}: ${cause}`
  );
  throw new Unusable(
    reason.join("; "),
    failed.map((f) => `${f.spec}: ${f.error}`).join("\n").replace(/[ \t]+$/gm, ""),
  );
}

async function loadWebgpu(): Promise<Found> {
  ensureRuntimeDir();
  // deno-lint-ignore no-explicit-any
  const gpu = (globalThis.navigator as any)?.gpu;
  if (!gpu) throw new Unusable("navigator.gpu is not available");
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new Unusable(
      "no WebGPU adapter (no usable Vulkan or GL driver)",
      "navigator.gpu.requestAdapter() returned null",
    );
  }
  const info = adapter.info ?? {};
  const name = String(info.description || info.vendor || "unknown adapter");
  const software = isSoftwareAdapter(info);
  const details = `adapter: ${name} (vendor ${info.vendor || "?"}, architecture ${info.architecture || "?"}` +
    `${info.isFallbackAdapter ? ", fallback adapter" : ""})`;
  try {
    await import("@tensorflow/tfjs-backend-webgpu");
    await activate("webgpu");
  } catch (e) {
    throw new Unusable(shortError(errorMessage(e)), `${details}\n${errorMessage(e)}`, software);
  }
  const short = name.replace(/\s*\(.*\)\s*$/, "");
  return software
    ? { reason: `software adapter ${short}: slower than wasm`, details, software }
    : { reason: `adapter ${short}`, details, software };
}

async function loadWasm(options: SelectBackendOptions): Promise<Found> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  const path = options.wasmPath ?? defaultWasmPath();
  if (path.startsWith("file:") && !existsSync(new URL("tfjs-backend-wasm-simd.wasm", path))) {
    throw new Unusable("wasm files missing", `no tfjs-backend-wasm-simd.wasm in ${path}`);
  }
  wasm.setWasmPaths(path);
  registerWasmGradientKernels();
  registerWasmReductionKernels();
  await activate("wasm");
  const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT") ? "on" : "off";
  return { reason: `SIMD ${simd}`, details: `wasm files from ${path}` };
}

async function loadCpu(): Promise<Found> {
  await activate("cpu");
  return { reason: "pure JavaScript: tiny models only" };
}

/** A backend that cannot be used, with a short reason and the full story. */
class Unusable extends Error {
  constructor(readonly reason: string, readonly details?: string, readonly software?: boolean) {
    super(details ?? reason);
  }
}

const LOADERS: Record<BackendName, (options: SelectBackendOptions) => Promise<Found>> = {
  tensorflow: loadTensorflow,
  webgpu: loadWebgpu,
  wasm: loadWasm,
  cpu: loadCpu,
};

/** Tries one backend, leaving it active when it loads; never throws: the error, if any, comes as `cause`. */
async function probe(
  name: BackendName,
  options: SelectBackendOptions,
): Promise<{ attempt: BackendAttempt; cause?: unknown }> {
  try {
    const found = await LOADERS[name](options);
    const slow = found.software && !options.allowFallbackAdapter;
    return { attempt: { name, ok: true, usable: slow ? "slow" : "yes", ...found } };
  } catch (e) {
    if (e instanceof Unusable) {
      const attempt: BackendAttempt = { name, ok: false, usable: "no", reason: e.reason };
      if (e.details) attempt.details = e.details;
      if (e.software !== undefined) attempt.software = e.software;
      return { attempt, cause: e };
    }
    const message = errorMessage(e);
    const reason = shortError(message);
    return {
      attempt: { name, ok: false, usable: "no", reason, ...(reason !== message ? { details: message } : {}) },
      cause: e,
    };
  }
}

/** Makes the chosen backend active again after others were probed. */
async function keep(best: BackendName | undefined): Promise<void> {
  if (best && tf.getBackend() !== best) await activate(best);
}

/**
 * Makes `name` the active tfjs backend. `auto` tries {@link BACKENDS} in order, stops as soon as no backend
 * left to try could beat the best so far, and keeps the one {@linkcode bestBackend} picks (the rule the
 * doctor uses too: a software WebGPU adapter ranks after wasm). `tensorflow` needs
 * `@tensorflow/tfjs-node(-gpu)` with its native library, imported dynamically only here.
 *
 * @param name a backend or `auto`.
 * @returns the backend now active and what was tried; renders as a small table in Jupyter.
 * @throws {TypeError} for an unknown name; {@link BackendUnavailableError} when an explicit backend fails.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const chosen = await selectBackend("cpu");
 * assert.equal(chosen.name, "cpu");
 * assert.equal(`${chosen.name} (${chosen.reason})`, "cpu (pure JavaScript: tiny models only)");
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
  if (name !== "auto") {
    const { attempt, cause } = await probe(name, options);
    if (!attempt.ok) {
      throw new BackendUnavailableError(
        `Cannot use the "${name}" backend: ${attempt.details ?? attempt.reason}`,
        name,
        [attempt],
        { cause },
      );
    }
    return new BackendSelection([attempt], name);
  }
  const tried: BackendAttempt[] = [];
  for (const [i, candidate] of BACKENDS.entries()) {
    tried.push((await probe(candidate, options)).attempt);
    // Stop when even the best case of every backend still untried would not change the rule's pick.
    const best = bestBackend(tried, options);
    const bestCase = BACKENDS.slice(i + 1).map((n) => ({ name: n, ok: true }));
    if (best && bestBackend([...tried, ...bestCase], options) === best) break;
  }
  const best = bestBackend(tried, options);
  if (!best) {
    throw new BackendUnavailableError(
      `No backend could be loaded: ${tried.map((t) => `${t.name}: ${t.details ?? t.reason}`).join("; ")}`,
      "auto",
      tried,
    );
  }
  await keep(best);
  return new BackendSelection(tried, best);
}

/**
 * Tries every backend and leaves active the one `selectBackend("auto")` would pick (same rule,
 * {@linkcode bestBackend}), for the doctor and notebook 00. It never throws for a backend that does not
 * load: that is a row with `usable: "no"` and its reason.
 *
 * @returns every backend with whether it is usable and why (not); renders as a small table in Jupyter.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const report = await backendReport({ tensorflowModules: [] });
 * assert.deepEqual(report.tried.map((a) => a.name), ["tensorflow", "webgpu", "wasm", "cpu"]);
 * assert.equal(report.tried[0]?.reason, "no tfjs-node module to try");
 * assert.equal(report.best, (await selectBackend("auto", { tensorflowModules: [] })).name);
 * ```
 */
export async function backendReport(options: SelectBackendOptions = {}): Promise<BackendReport> {
  registerBatchNormGradient();
  const tried: BackendAttempt[] = [];
  for (const name of BACKENDS) tried.push((await probe(name, options)).attempt);
  const best = bestBackend(tried, options);
  await keep(best);
  return new BackendReport(tried, best);
}
