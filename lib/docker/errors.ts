/**
 * Errors of the Docker step: one class per failure a caller must tell apart, all {@linkcode DockerError}s.
 *
 * @module
 */
import { CxrError } from "../errors.ts";
import { redactSecrets } from "../secrets.ts";

/**
 * Base of the Docker step's errors (no engine, an API call refused, a failed build).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CxrError } from "../errors.ts";
 * const e = new DockerApiError("No such image: x", 'inspect image "x"', 404);
 * assert.ok(e instanceof DockerError && e instanceof CxrError);
 * assert.equal(e.name, "DockerApiError");
 * ```
 */
export class DockerError extends CxrError {}

/**
 * Nothing answers on the Docker socket (engine not started, wrong path, no permission).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new DockerUnavailableError("connection refused", "/run/x.sock");
 * assert.match(e.message, /No Docker engine answers on "\/run\/x.sock": connection refused/);
 * assert.match(e.message, /scripts\/services.sh/);
 * ```
 */
export class DockerUnavailableError extends DockerError {
  /** @param detail Why the socket did not answer (the first line of the connection error). */
  constructor(detail: string, readonly socket: string, options?: ErrorOptions) {
    super(
      `No Docker engine answers on "${socket}": ${detail}. Start one (scripts/services.sh does) or point ` +
        `CXR_DOCKER_HOST / DOCKER_HOST at it (unix:///path/to/docker.sock)`,
      options,
    );
  }
}

/**
 * The engine answered an API call with an error status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new DockerApiError("No such image: x", 'inspect image "x"', 404);
 * assert.equal(e.status, 404);
 * assert.equal(e.message, 'Docker could not inspect image "x" (HTTP 404): No such image: x');
 * ```
 */
export class DockerApiError extends DockerError {
  /**
   * @param operation What was being done, e.g. `push "127.0.0.1:5000/cxr-scoring:1"`.
   * @param status HTTP status (0 when the error came inside a streamed answer).
   */
  constructor(detail: string, readonly operation: string, readonly status: number, options?: ErrorOptions) {
    super(`Docker could not ${operation}${status ? ` (HTTP ${status})` : ""}: ${detail.trim()}`, options);
  }
}

/**
 * An image build failed; `step` names the Dockerfile step that failed and `detail` the engine's message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new DockerBuildError("returned a non-zero code: 1", "cxr-scoring:dev", "Step 3/9 : RUN false", []);
 * assert.equal(e.message, 'Cannot build image "cxr-scoring:dev": Step 3/9 : RUN false failed: returned a non-zero code: 1');
 * ```
 */
export class DockerBuildError extends DockerError {
  /** The engine's error message (secrets redacted). */
  readonly detail: string;
  /** The last lines of build output before the failure (secrets redacted). */
  readonly output: string[];
  /** @param step The failing step as the engine printed it (`Step 3/9 : RUN ...`), or `""` before the first. */
  constructor(
    detail: string,
    readonly image: string,
    readonly step: string,
    output: string[],
    options?: ErrorOptions,
  ) {
    const safe = redactSecrets(detail.trim());
    super(`Cannot build image "${image}": ${step ? `${step} failed` : "the build failed"}: ${safe}`, options);
    this.detail = safe;
    this.output = output.map(redactSecrets);
  }
}
