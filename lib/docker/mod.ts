/**
 * Docker: the training and scoring images built, pushed and run through the Docker Engine API.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dockerfilePath, IMAGE_KINDS } from "./mod.ts";
 * assert.deepEqual(IMAGE_KINDS, ["training", "scoring"]);
 * assert.equal(dockerfilePath("training"), "docker/training.Dockerfile");
 * ```
 *
 * @module
 */
export * from "./client.ts";
export * from "./format.ts";
export * from "./summary.ts";
export * from "./errors.ts";
export * from "./context.ts";
export * from "./containers.ts";
export * from "./images.ts";
export * from "./gpu_smoke.ts";
export * from "./run.ts";
