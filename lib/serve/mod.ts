/**
 * The scoring service: a `fetch` handler over a model {@link Predictor} (`POST /score`, health, readiness,
 * Prometheus metrics and a small upload page), the server around it, and the typed wire format shared with
 * clients.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SCORE_ERROR_CODES } from "./mod.ts";
 * assert.ok(SCORE_ERROR_CODES.includes("too_large"));
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./score_format.ts";
export * from "./limiter.ts";
export * from "./metrics.ts";
export * from "./score_image.ts";
export * from "./page.ts";
export * from "./handler.ts";
export * from "./client.ts";
export * from "./batch.ts";
export * from "./server.ts";
export * from "./score_images.ts";
