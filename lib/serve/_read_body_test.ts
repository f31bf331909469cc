import assert from "node:assert/strict";
import { bodyReservation, readBody } from "./_read_body.ts";
import { ScoreHttpError } from "./score_format.ts";
import { bodyStream } from "./_testing.ts";

/** A stream of `count` chunks of `size` bytes (byte k of the body = k & 255), then an optional failure. */
function chunks(count: number, size: number, fail?: Error): ReadableStream<Uint8Array> {
  const chunk = (k: number) => new Uint8Array(size).map((_, i) => ((k - 1) * size + i) & 255);
  return bodyStream((k) => k > count ? fail : chunk(k)).stream;
}

function post(body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Request {
  return new Request("http://x/score", { method: "POST", body, headers });
}

function expected(n: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => i & 255);
}

Deno.test("readBody: a declared body lands in one buffer of exactly its Content-Length", async () => {
  const body = await readBody(post(chunks(50, 1000), { "content-length": "50000" }), 1 << 20);
  assert.deepEqual(body, expected(50000));
  assert.equal(body.buffer.byteLength, 50000); // one allocation, no chunk list joined at the end
  const longer = await readBody(post(chunks(3, 1000), { "content-length": "2500" }), 10000).catch((e) => e);
  assert.ok(longer instanceof ScoreHttpError);
  assert.deepEqual([longer.status, longer.code], [400, "bad_request"]);
  assert.match(longer.message, /longer than its Content-Length of 2500 bytes/);
});

Deno.test("readBody: an undeclared (chunked) body grows by doubling, never past the limit", async () => {
  const body = await readBody(post(chunks(30, 10000)), 300000);
  assert.deepEqual(body, expected(300000));
  assert.equal(body.buffer.byteLength, 300000); // capped at the limit, not the next power of two
  const small = await readBody(post(chunks(1, 10)), 300000);
  assert.deepEqual(small, expected(10));
  assert.ok(small.buffer.byteLength <= 65536);
  const over = await readBody(post(chunks(31, 10000)), 300000).catch((e) => e);
  assert.deepEqual([over.status, over.code], [413, "too_large"]);
});

Deno.test("readBody: a body stream that fails mid-body is 499 client_closed, not an internal error", async () => {
  const reset = chunks(3, 100, new Error("connection reset"));
  const cut = await readBody(post(reset, { "content-length": "1000" }), 5000).catch((e) => e);
  assert.ok(cut instanceof ScoreHttpError);
  assert.deepEqual([cut.status, cut.code], [499, "client_closed"]);
  assert.match(cut.message, /closed the connection after 300 bytes of the request body \(of 1000 declared\)/);
  assert.match(String((cut.cause as Error).message), /connection reset/);
  // our own cancel (timeout) keeps its reason
  const controller = new AbortController();
  const stalled = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
  const reading = readBody(post(stalled), 5000, { signal: controller.signal });
  controller.abort(new Error("timed out"));
  await assert.rejects(reading, /timed out/);
});

Deno.test("bodyReservation: Content-Length, else the limit; 413 past it; argument checks", () => {
  const req = (h: Record<string, string>) => new Request("http://x/", { method: "POST", headers: h });
  assert.equal(bodyReservation(req({ "content-length": " 12 " }), 100), 12);
  assert.equal(bodyReservation(req({ "content-length": "x" }), 100), 100);
  assert.throws(() => bodyReservation(req({ "content-length": "101" }), 100), (e: ScoreHttpError) => {
    assert.deepEqual([e.status, e.code], [413, "too_large"]);
    return true;
  });
  assert.throws(() => bodyReservation(req({}), -1), RangeError);
});
