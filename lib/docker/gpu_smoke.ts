/**
 * The training image's `gpu-smoke` check: which tfjs backend loads and which GPUs the machine shows.
 *
 * @module
 */
import { selectBackend } from "../model/mod.ts";
import type { BackendAttempt, BackendName } from "../model/mod.ts";

/** What {@linkcode gpuSmoke} found. */
export interface GpuSmokeReport {
  /** The tfjs backend now active (`tensorflow` means tfjs-node-gpu loaded its native library). */
  backend: BackendName;
  /** Why that one, and why the better ones were skipped. */
  reason: string;
  tried: BackendAttempt[];
  /** `nvidia-smi -L` lines (one per GPU), empty when there is no NVIDIA driver. */
  devices: string[];
}

/** Options for {@linkcode gpuSmoke}. */
export interface GpuSmokeOptions {
  /** Backend to ask for. @default "auto" */
  backend?: BackendName | "auto";
  /** Lists the GPUs. @default runs `nvidia-smi -L` */
  listDevices?: () => Promise<string[]>;
}

async function nvidiaSmi(): Promise<string[]> {
  try {
    const out = await new Deno.Command("nvidia-smi", { args: ["-L"], stdout: "piped", stderr: "null" })
      .output();
    if (!out.success) return [];
    return new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim()).filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Loads the best tfjs backend and lists the GPUs (`docker/entrypoints/gpu_smoke.ts` prints the report).
 *
 * @throws {BackendUnavailableError} when an explicit backend cannot load.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const report = await gpuSmoke({ backend: "cpu", listDevices: async () => ["GPU 0: test"] });
 * assert.equal(report.backend, "cpu");
 * assert.deepEqual(report.devices, ["GPU 0: test"]);
 * ```
 */
export async function gpuSmoke(options: GpuSmokeOptions = {}): Promise<GpuSmokeReport> {
  const selection = await selectBackend(options.backend ?? "auto");
  const devices = await (options.listDevices ?? nvidiaSmi)();
  return { backend: selection.name, reason: selection.reason, tried: selection.tried, devices };
}
