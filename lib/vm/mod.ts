/**
 * Step 00, the machine: `runDoctor` checks what the workflow needs here (GPU, CUDA/cuDNN for
 * tfjs-node-gpu 4.22, CUDA 12/cuDNN 9 and the cuda provider for ONNX Runtime's `train --gpus`, disk, Docker,
 * Jupyter, ports, backends, Deno, az, storage); `setupStorage` creates the storage account and containers
 * (or configures Azurite) and writes the settings file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DoctorReport } from "./mod.ts";
 * assert.equal(new DoctorReport([]).ok, true);
 * ```
 *
 * @module
 */
export * from "./check.ts";
export * from "./errors.ts";
export * from "./environment.ts";
export * from "./gpu_checks.ts";
export * from "./host_checks.ts";
export * from "./azure_checks.ts";
export * from "./backend_check.ts";
export * from "./doctor.ts";
export * from "./env_file.ts";
export * from "./setup.ts";
export * from "./settings_table.ts";
