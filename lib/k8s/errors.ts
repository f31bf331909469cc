/**
 * The base of the Kubernetes step's errors, with the client's two ({@linkcode KubeApiError},
 * {@linkcode KubeconfigError}). Each other failure keeps its class beside the code that throws it
 * (`KustomizationError` in render.ts,
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
 * const e = new KubeApiError('Applying Service "cxr/x" failed: HTTP 403: forbidden', 403);
 * assert.ok(e instanceof K8sError && e instanceof CxrError);
 * assert.equal(e.name, "KubeApiError");
 * assert.equal(e.status, 403);
 * ```
 */
export class K8sError extends CxrError {}

/** The API server refused a request or could not be reached. */
export class KubeApiError extends K8sError {
  /**
   * @param message What failed, on which server, with the API's status and message.
   * @param status HTTP status, or 0 when the server could not be reached.
   * @param options `cause`: client-node's error.
   */
  constructor(message: string, readonly status: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The kubeconfig cannot be used (missing, unreadable, no current context). */
export class KubeconfigError extends K8sError {
  /**
   * @param message What is wrong with the file.
   * @param file The kubeconfig file.
   * @param options `cause`: the loader's error.
   */
  constructor(message: string, readonly file: string, options?: ErrorOptions) {
    super(message, options);
  }
}
