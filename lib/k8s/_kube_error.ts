/**
 * client-node's failures as {@linkcode KubeApiError}s that name the action and the server.
 *
 * @module
 */
import { KubeApiError } from "./errors.ts";

/**
 * Wraps a client-node failure (an HTTP answer has a numeric `code` and a `body`) into a
 * {@linkcode KubeApiError} naming the action (e.g. `Applying Service "cxr/x"`) and the server.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = kubeError('Reading Secret "cxr/x"', "https://k:6443", { code: 403, body: '{"message":"forbidden"}' });
 * assert.equal(e.message, 'Reading Secret "cxr/x" failed: HTTP 403: forbidden');
 * assert.equal(kubeError("Listing", "https://k:6443", new Error("ECONNREFUSED")).status, 0);
 * ```
 */
export function kubeError(action: string, server: string, e: unknown): KubeApiError {
  if (e instanceof KubeApiError) return e;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "number") {
    let body = (e as { body?: unknown }).body;
    if (typeof body === "string") {
      try {
        body = JSON.parse(body);
      } catch { /* plain text */ }
    }
    const msg = (body as { message?: string } | undefined)?.message ?? (typeof body === "string" ? body : "");
    return new KubeApiError(`${action} failed: HTTP ${code}${msg ? `: ${msg}` : ""}`, code, { cause: e });
  }
  const detail = e instanceof Error ? e.message.split("\n")[0] : String(e);
  return new KubeApiError(`${action} failed: cannot reach the API server at ${server}: ${detail}`, 0, {
    cause: e,
  });
}

/**
 * Runs one API request; its failure becomes {@linkcode kubeError}`(action, server, e)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * await assert.rejects(kubeCall("https://k:6443", "Listing", () => Promise.reject({ code: 404 })), /Listing failed: HTTP 404/);
 * ```
 */
export async function kubeCall<T>(server: string, action: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (e) {
    throw kubeError(action, server, e);
  }
}
