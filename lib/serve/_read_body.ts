/**
 * Reading a request body under a size limit, enforced while the stream arrives (a lying or missing
 * `Content-Length` cannot make the service buffer more than the limit), into one bounded buffer: a declared
 * length is allocated once and filled in place; an undeclared (chunked) one grows by doubling up to the limit.
 * Chunks are never collected and concatenated, so a body costs its own size, not twice it. A body stream that
 * fails mid-body is the client's doing, not a server error (499 `client_closed`).
 *
 * @module
 */
import { ScoreHttpError } from "./score_format.ts";

function tooLarge(maxBytes: number, what: string): ScoreHttpError {
  return new ScoreHttpError(
    `The request body ${what}; the limit is ${maxBytes} bytes${
      maxBytes >= 1048576 ? ` (${(maxBytes / 1048576).toFixed(1)} MiB)` : ""
    }`,
    413,
    "too_large",
  );
}

/**
 * The request's `Content-Length` when it is a plain decimal number, else `null`.
 *
 * @throws {RangeError} for a bad `maxBytes`; 413 when the declared length exceeds it.
 */
function declaredLength(fn: string, req: Request, maxBytes: number): number | null {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RangeError(`${fn}: maxBytes must be an integer >= 0, got ${maxBytes}`);
  }
  const header = req.headers.get("content-length")?.trim();
  const declared = header !== undefined && /^\d{1,15}$/.test(header) ? Number(header) : null;
  if (declared !== null && declared > maxBytes) {
    throw tooLarge(maxBytes, `is ${declared} bytes (Content-Length)`);
  }
  return declared;
}

/**
 * How many bytes `req`'s body may take once read, known before reading it: its `Content-Length` when
 * declared, else `maxBytes` (a chunked body may grow to the limit). The service reserves this from its
 * in-flight byte budget before it reads a byte.
 *
 * @param maxBytes the most bytes accepted (>= 0).
 * @returns bytes to reserve.
 * @throws {RangeError} for a negative or non-integer `maxBytes`; {@linkcode ScoreHttpError} 413 `too_large`
 * when `Content-Length` exceeds the limit.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const req = (headers: Record<string, string>) => new Request("http://x/", { method: "POST", headers });
 * assert.equal(bodyReservation(req({ "content-length": "300" }), 1000), 300);
 * assert.equal(bodyReservation(req({}), 1000), 1000);
 * assert.throws(() => bodyReservation(req({ "content-length": "2000" }), 1000), /is 2000 bytes \(Content-Length\)/);
 * ```
 */
export function bodyReservation(req: Request, maxBytes: number): number {
  return declaredLength("bodyReservation", req, maxBytes) ?? maxBytes;
}

/**
 * Reads `req`'s body into one buffer, refusing more than `maxBytes`.
 *
 * @param maxBytes the most bytes accepted (>= 0).
 * @param options `signal` cancels the read.
 * @returns the body's bytes (empty when there is none); a view of a buffer no larger than `Content-Length`
 * (when declared) or than the limit.
 * @throws {RangeError} for a negative or non-integer `maxBytes`; {@linkcode ScoreHttpError} 413 `too_large`
 * at once when `Content-Length` exceeds the limit, else as soon as the stream does; 400 `bad_request` when
 * the stream brings more than its `Content-Length`; 499 `client_closed` when the body stream fails (the
 * client went away mid-body); the signal's reason when it aborts.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const req = (body: BodyInit) => new Request("http://x/", { method: "POST", body });
 * assert.deepEqual(await readBody(req("abc"), 3), new TextEncoder().encode("abc"));
 * await assert.rejects(readBody(req("abcd"), 3), /The request body has 4 bytes or more; the limit is 3 bytes/);
 * const broken = new ReadableStream({ pull: (c) => c.error(new Error("connection reset")) });
 * await assert.rejects(readBody(req(broken), 3), (e: { status: number; code: string }) =>
 *   e.status === 499 && e.code === "client_closed");
 * ```
 */
export async function readBody(
  req: Request,
  maxBytes: number,
  options: { signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  const declared = declaredLength("readBody", req, maxBytes);
  if (!req.body) return new Uint8Array(0);
  const signal = options.signal;
  signal?.throwIfAborted();
  const reader = req.body.getReader();
  const onAbort = () => reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  let buffer = new Uint8Array(declared ?? Math.min(maxBytes, 65536));
  let total = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        signal?.throwIfAborted(); // our own cancel, not the client's
        throw new ScoreHttpError(
          `The client closed the connection after ${total} bytes of the request body${
            declared === null ? "" : ` (of ${declared} declared)`
          }`,
          499,
          "client_closed",
          { cause: e },
        );
      }
      if (chunk.done) break;
      const value = chunk.value;
      if (total + value.length > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge(maxBytes, `has ${total + value.length} bytes or more`);
      }
      if (total + value.length > buffer.length) {
        if (declared !== null) {
          await reader.cancel().catch(() => {});
          throw new ScoreHttpError(
            `The request body is longer than its Content-Length of ${declared} bytes`,
            400,
            "bad_request",
          );
        }
        let size = buffer.length || 1;
        while (size < total + value.length) size *= 2;
        const grown = new Uint8Array(Math.min(size, maxBytes));
        grown.set(buffer.subarray(0, total));
        buffer = grown;
      }
      buffer.set(value, total);
      total += value.length;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  signal?.throwIfAborted();
  return total === buffer.length ? buffer : buffer.subarray(0, total);
}
