/**
 * Which tfjs compute backends work here, as a doctor check. lib/vm may not import lib/model, so the caller
 * passes the probe: lib/model's `backendReport`, which tries every backend and picks the best with the
 * same rule `selectBackend("auto")` uses, so the doctor and training always name the same backend.
 *
 * @module
 */
import type { CheckDetails, DoctorCheck } from "./check.ts";

/** One backend as the probe found it (lib/model's `BackendAttempt`). */
export interface BackendProbeRow {
  /** Backend name (`tensorflow`, `webgpu`, `wasm`, `cpu`). */
  name: string;
  /** `yes`, `slow` (a software WebGPU adapter, slower than wasm) or `no`. */
  usable: "yes" | "slow" | "no";
  /** One short line: what it runs on, or why not. */
  reason: string;
}

/** What a backend probe answers (lib/model's `BackendReport`): every backend, best possible first. */
export interface BackendOverview extends CheckDetails {
  /** The backend `auto` picks (and the probe left active); `undefined` when none loads. */
  best?: string | undefined;
  /** Every backend, in the order tried: the best there could be first. */
  tried: readonly BackendProbeRow[];
}

/** Tries the compute backends, e.g. lib/model's `backendReport`. */
export type BackendProbe = () => Promise<BackendOverview>;

/**
 * Which backends load: `ok` when the best is the first tried (`tensorflow`), `warn` when training falls back
 * to webgpu, wasm or cpu, `fail` when none loads. The detail is one line; the probe's small table (with the
 * full errors behind `--verbose`) comes with the check as its `details`.
 *
 * @param probe tries the backends; without one the check is a `warn` saying so.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const overview = {
 *   best: "wasm",
 *   tried: [
 *     { name: "tensorflow", usable: "no", reason: "tfjs-node: package not installed" },
 *     { name: "wasm", usable: "yes", reason: "SIMD on" },
 *   ] as const,
 *   toText: () => "table",
 *   toHtml: () => "<table></table>",
 * };
 * const check = await checkBackends(() => Promise.resolve(overview));
 * assert.equal(check.status, "warn");
 * assert.equal(check.detail, "best: wasm (tensorflow: no, wasm: yes)");
 * assert.equal(check.details, overview);
 * ```
 */
export async function checkBackends(probe: BackendProbe | undefined): Promise<DoctorCheck> {
  const base = { id: "backends", title: "Compute backends (tfjs)" };
  if (!probe) return { ...base, status: "warn", detail: "not probed (no backend probe given)" };
  const overview = await probe();
  const rows = overview.tried.map((r) => `${r.name}: ${r.usable}`).join(", ");
  if (!overview.best) {
    const fix = "Run `deno install` so the npm packages of deno.json are present.";
    return { ...base, status: "fail", detail: `none loads (${rows})`, fix, details: overview };
  }
  const first = overview.tried[0]?.name;
  if (overview.best === first) {
    return { ...base, status: "ok", detail: `best: ${first} (${rows})`, details: overview };
  }
  const fix =
    `Training at full size needs the ${first} backend: on the GPU VM, with CUDA 11.2 and cuDNN 8.1, ` +
    "let tfjs-node-gpu 4.22.0's install script fetch libtensorflow (deno install with " +
    "--allow-scripts=npm:@tensorflow/tfjs-node-gpu@4.22.0), or train in the training image.";
  return { ...base, status: "warn", detail: `best: ${overview.best} (${rows})`, fix, details: overview };
}
