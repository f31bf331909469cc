/**
 * The whole toolkit in one import, for notebooks: `import * as cxr from "../lib/mod.ts"`.
 *
 * Each workflow step also has its own `mod.ts` (`lib/nih/mod.ts`, `lib/storage/mod.ts`, ...); code inside
 * `lib/` imports those, never this file.
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
export * from "./progress.ts";
export * from "./pool.ts";
export * from "./shard.ts";
export * from "./display.ts";
export * from "./auroc.ts";
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
