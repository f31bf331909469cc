/**
 * The base of the Kubernetes step's errors. Each failure keeps its class beside the code that throws it
 * (`KubeApiError` and `KubeconfigError` in client.ts, `KustomizationError` in render.ts,
 * `ManifestValidationError` and `PlainHttpError` in validate.ts, `RolloutFailedError` and
 * `RolloutTimeoutError` in rollout.ts, `MissingTlsSecretError` in ingress.ts, `JobFailedError` in jobs.ts); all
 * of them extend {@linkcode K8sError}, and a manifest that cannot be parsed (`ManifestSyntaxError`) is a
 * `CxrSyntaxError`.
 *
 * @module
 */
import { CxrError } from "../errors.ts";

/**
 * Base of every Kubernetes-step failure (kubeconfig, API server, kustomization, validation, rollout, Jobs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CxrError } from "../errors.ts";
 * import { KubeApiError } from "./client.ts";
 * const e = new KubeApiError('Applying Service "cxr/x" failed: HTTP 403: forbidden', 403);
 * assert.ok(e instanceof K8sError && e instanceof CxrError);
 * assert.equal(e.name, "KubeApiError");
 * assert.equal(e.status, 403);
 * ```
 */
export class K8sError extends CxrError {}
