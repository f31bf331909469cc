/**
 * The base of the Kubernetes step's errors, with the client's two. The other failures keep their class beside
 * the code that throws them; all extend {@linkcode K8sError}, except `ManifestSyntaxError`, a `CxrSyntaxError`.
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
 * const e = new KubeApiError('Applying Service "cxr/x" failed: HTTP 403: forbidden', 403);
 * assert.ok(e instanceof K8sError && e instanceof CxrError);
 * assert.equal(e.name, "KubeApiError");
 * assert.equal(e.status, 403);
 * ```
 */
export class K8sError extends CxrError {}

/** The API server refused a request (`status` is its HTTP status) or could not be reached (`status` 0). */
export class KubeApiError extends K8sError {
  constructor(message: string, readonly status: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The kubeconfig `file` cannot be used (missing, unreadable, no current context). */
export class KubeconfigError extends K8sError {
  constructor(message: string, readonly file: string, options?: ErrorOptions) {
    super(message, options);
  }
}
