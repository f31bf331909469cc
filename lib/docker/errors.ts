/**
 * Errors of the Docker step, one class per failure a caller (the CLI, notebook 02, tests) must tell apart.
 *
 * @module
 */
import { redactSecrets } from "../config.ts";

/**
 * Nothing answers on the Docker socket (engine not started, wrong path, no permission).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new DockerUnavailableError("/run/x.sock", "connection refused");
 * assert.match(e.message, /No Docker engine answers on "\/run\/x.sock": connection refused/);
 * assert.match(e.message, /scripts\/services.sh/);
 * ```
 */
export class DockerUnavailableError extends Error {
  /** The unix socket tried. */
  socket: string;
  constructor(socket: string, detail: string, options?: ErrorOptions) {
    super(
      `No Docker engine answers on "${socket}": ${detail}. Start one (scripts/services.sh does) or point ` +
        `CXR_DOCKER_HOST / DOCKER_HOST at it (unix:///path/to/docker.sock)`,
      options,
    );
    this.name = "DockerUnavailableError";
    this.socket = socket;
  }
}

/**
 * The engine answered an API call with an error status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new DockerApiError("inspect image \"x\"", 404, "No such image: x");
 * assert.equal(e.status, 404);
 * assert.equal(e.message, 'Docker could not inspect image "x" (HTTP 404): No such image: x');
 * ```
 */
export class DockerApiError extends Error {
  /** What was being done, e.g. `push "127.0.0.1:5000/cxr-scoring:1"`. */
  operation: string;
  /** HTTP status (0 when the error came inside a streamed answer). */
  status: number;
  constructor(operation: string, status: number, detail: string, options?: ErrorOptions) {
    super(
      `Docker could not ${operation}${status ? ` (HTTP ${status})` : ""}: ${redactSecrets(detail.trim())}`,
      options,
    );
    this.name = "DockerApiError";
    this.operation = operation;
    this.status = status;
  }
}

/**
 * An image build failed; `step` names the Dockerfile step that failed and `detail` the engine's message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new DockerBuildError("cxr-scoring:dev", "Step 3/9 : RUN false", "returned a non-zero code: 1", []);
 * assert.equal(e.message, 'Cannot build image "cxr-scoring:dev": Step 3/9 : RUN false failed: returned a non-zero code: 1');
 * ```
 */
export class DockerBuildError extends Error {
  /** The tag being built. */
  image: string;
  /** The failing step as the engine printed it (`Step 3/9 : RUN ...`), or `""` before the first step. */
  step: string;
  /** The engine's error message. */
  detail: string;
  /** The last lines of build output before the failure. */
  output: string[];
  constructor(image: string, step: string, detail: string, output: string[], options?: ErrorOptions) {
    const safe = redactSecrets(detail.trim());
    super(`Cannot build image "${image}": ${step ? `${step} failed` : "the build failed"}: ${safe}`, options);
    this.name = "DockerBuildError";
    this.image = image;
    this.step = step;
    this.detail = safe;
    this.output = output.map(redactSecrets);
  }
}
