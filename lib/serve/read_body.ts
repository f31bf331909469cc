/**
 * Reading a request body under a size limit, enforced while the stream arrives (a lying or missing
 * `Content-Length` cannot make the service buffer more than the limit).
 *
 * @module
 */
import { ScoreHttpError } from "./score_format.ts";

function _tooLarge(maxBytes: number, what: string): ScoreHttpError {
  return new ScoreHttpError(
    413,
    "too_large",
    `The request body ${what}; the limit is ${maxBytes} bytes${
      maxBytes >= 1048576 ? ` (${(maxBytes / 1048576).toFixed(1)} MiB)` : ""
    }`,
  );
}

/**
 * Reads `req`'s body, refusing more than `maxBytes`.
 *
 * @param req the request.
 * @param maxBytes the most bytes accepted (>= 0).
 * @param options `signal` cancels the read.
 * @returns the body's bytes (empty when there is none).
 * @throws {RangeError} for a negative or non-integer `maxBytes`; {@linkcode ScoreHttpError} 413 `too_large`
 * at once when `Content-Length` exceeds the limit, else as soon as the stream does.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const req = (body: string) => new Request("http://x/", { method: "POST", body });
 * assert.deepEqual(await readBody(req("abc"), 3), new TextEncoder().encode("abc"));
 * await assert.rejects(readBody(req("abcd"), 3), /The request body has 4 bytes or more; the limit is 3 bytes/);
 * ```
 */
export async function readBody(
  req: Request,
  maxBytes: number,
  options: { signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RangeError(`readBody: maxBytes must be an integer >= 0, got ${maxBytes}`);
  }
  const declared = req.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > maxBytes) {
    throw _tooLarge(maxBytes, `is ${declared} bytes (Content-Length)`);
  }
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const onAbort = () => reader.cancel(options.signal?.reason).catch(() => {});
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw _tooLarge(maxBytes, `has ${total} bytes or more`);
      }
      chunks.push(value);
    }
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  options.signal?.throwIfAborted();
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
