/**
 * Deployment: the training and scoring images through the Docker Engine API (`docker*.ts`).
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
export * from "./docker.ts";
export * from "./docker_format.ts";
export * from "./docker_summary.ts";
export * from "./docker_errors.ts";
export * from "./docker_ignore.ts";
export * from "./docker_context.ts";
export * from "./docker_containers.ts";
export * from "./docker_images.ts";
export * from "./docker_gpu_smoke.ts";
export * from "./k8s.ts";
export * from "./docker_run.ts";
