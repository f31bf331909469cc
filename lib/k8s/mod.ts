/**
 * Kubernetes: render the overlays of `k8s/` (a Kustomize subset) and validate them, deploy the scoring service
 * and tear it down, run Indexed Jobs, and notebook 05's steps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OVERLAYS, renderOverlay } from "./mod.ts";
 * assert.deepEqual(OVERLAYS, ["aks", "aks-lb", "local"]);
 * assert.ok(renderOverlay({ overlay: "local" }).some((o) => o.kind === "Deployment"));
 * ```
 *
 * @module
 */
export * from "./object.ts";
export * from "./render.ts";
export * from "./validate.ts";
export * from "./transport.ts";
export * from "./client.ts";
export * from "./rollout.ts";
export * from "./ingress.ts";
export * from "./jobs.ts";
export * from "./deploy.ts";
export * from "./notebook.ts";
export * from "./errors.ts";
