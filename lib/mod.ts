/**
 * The whole toolkit in one import, for notebooks: `import * as cxr from "../lib/mod.ts"`.
 *
 * It is the ground floor (the top-level files every step may import: settings, secrets, the error roots,
 * progress, seeded randomness, Jupyter display, shards, the bounded pool, AUROC, atomic writes) and each workflow step's own
 * `mod.ts` (`lib/nih/mod.ts`, `lib/storage/mod.ts`, ...), which is that step's public surface: its private
 * files start with `_` and are not re-exported (`tests/mod_exports_test.ts`). Code inside `lib/` imports the
 * file or folder it needs, never this file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FINDINGS, loadSettings } from "./mod.ts";
 * assert.equal(FINDINGS[12], "Pleural_Thickening");
 * assert.equal(loadSettings({ env: {}, envFile: false }).storage.mode, "azurite");
 * ```
 *
 * @module
 */
export * from "./config.ts";
export * from "./secrets.ts";
export * from "./errors.ts";
export * from "./progress.ts";
export * from "./random.ts";
export * from "./json_position.ts";
export * from "./pool.ts";
export * from "./shard.ts";
export * from "./display.ts";
export * from "./auroc.ts";
export * from "./write_atomic.ts";
export * from "./onnx_native.ts";
export * from "./nih/mod.ts";
export * from "./storage/mod.ts";
export * from "./images/mod.ts";
export * from "./model/mod.ts";
export * from "./train/mod.ts";
export * from "./eval/mod.ts";
export * from "./serve/mod.ts";
export * from "./docker/mod.ts";
export * from "./k8s/mod.ts";
export * from "./report/mod.ts";
export * from "./vm/mod.ts";
