import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../../tests/_fixtures.ts";
import { selfSignedCertificate } from "../../tests/_tls.ts";
import { type ScoringServerOptions, startScoringServer } from "./server.ts";

/**
 * A server on any port whose bundle folder does not exist (it answers, but never gets ready), once its load
 * has failed, with its `port`; closed when disposed.
 */
async function startWithoutModel(dir: string, key: string | null, more: Partial<ScoringServerOptions> = {}) {
  const server = await startScoringServer({
    model: join(dir, "missing"),
    engine: "tfjs",
    backend: "cpu",
    port: 0,
    key,
    log: () => {},
    ...more,
  });
  await server.ready.catch(() => {});
  const port = Number(new URL(server.url).port);
  return Object.assign(server, { port, [Symbol.asyncDispose]: () => server.close() });
}

Deno.test("startScoringServer: a bundle that cannot load keeps answering 503 not_ready with the reason", async () => {
  using dir = tempDir("cxr-serve-server-");
  await using server = await startWithoutModel(dir.path, null);
  await assert.rejects(server.ready, /ENOENT|No such file/);
  assert.equal(server.engine, null);
  assert.equal((await (await fetch(`${server.url}/healthz`)).json()).status, "ok");
  const res = await fetch(`${server.url}/readyz`);
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.error.code, "not_ready");
  assert.match(body.error.message, /^The model could not be loaded: .*metadata\.json/);
  await assert.rejects(
    startScoringServer({ model: dir.path, port: 70000 }),
    /port must be an integer 0..65535, got 70000/,
  );
});

/** Opens a TCP connection and reports when the server closes it (seconds after `t0`). */
async function slowClient(
  port: number,
  send: string,
  t0: number,
): Promise<{ closedAfter: number; got: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (send) await conn.write(new TextEncoder().encode(send));
  const buf = new Uint8Array(4096);
  let got = "";
  try {
    for (let n; (n = await conn.read(buf)) !== null;) got += new TextDecoder().decode(buf.subarray(0, n));
  } catch { /* reset: closed all the same */ }
  conn.close();
  return { closedAfter: (performance.now() - t0) / 1000, got };
}

Deno.test("startScoringServer: 300 connections that never finish their headers, or sit idle, are closed within the bounds", async () => {
  using dir = tempDir("cxr-serve-server-");
  const limits = { headersTimeoutMs: 1000, idleTimeoutMs: 1500 };
  await using server = await startWithoutModel(dir.path, null, limits);
  const t0 = performance.now();
  // A third send nothing, a third stop inside their headers, a third finish one request and stay idle.
  const kinds = [
    "",
    "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1",
    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
  ];
  const clients: Promise<{ closedAfter: number; got: string }>[] = [];
  for (let i = 0; i < 300; i++) clients.push(slowClient(server.port, kinds[i % 3]!, t0));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(server.connections >= 250, `${server.connections} connections open`);
  // A well-behaved client is still served while they hang on.
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  const results = await Promise.all(clients);
  const worst = Math.max(...results.map((r) => r.closedAfter));
  // headers: 1 s plus node's check period; idle: 1.5 s plus node's 1 s grace; slack for a busy machine.
  assert.ok(worst < 6, `the last slow connection closed after ${worst.toFixed(2)} s`);
  assert.ok(results.filter((_, i) => i % 3 === 1).every((r) => r.got.startsWith("HTTP/1.1 408")));
  assert.ok(results.filter((_, i) => i % 3 === 2).every((r) => r.got.startsWith("HTTP/1.1 200")));
  for (let i = 0; i < 50 && server.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.connections, 0);
});

Deno.test("startScoringServer: every answer carries the security headers; a taken port is AddrInUse", async () => {
  using dir = tempDir("cxr-serve-server-");
  await using server = await startWithoutModel(dir.path, null);
  for (const path of ["/healthz", "/readyz", "/nothing", "/"]) {
    const res = await fetch(`${server.url}${path}`);
    await res.body?.cancel();
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    assert.equal(res.headers.get("referrer-policy"), "no-referrer", path);
    assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/, path);
    assert.equal(res.headers.get("strict-transport-security"), null, `${path}: no HSTS over plain HTTP`);
  }
  // A proxy's absolute-form request line keeps its path and query.
  const proxied = await slowClient(
    server.port,
    "GET http://elsewhere.example/readyz?x=1 HTTP/1.1\r\nHost: elsewhere.example\r\nConnection: close\r\n\r\n",
    performance.now(),
  );
  assert.match(proxied.got, /^HTTP\/1\.1 503 [^]*"code":"not_ready"/);
  await assert.rejects(
    startScoringServer({ model: dir.path, port: server.port, log: () => {} }),
    (e) => e instanceof Deno.errors.AddrInUse && /127\.0\.0\.1:\d+: the address is in use/.test(e.message),
  );
});

Deno.test("startScoringServer with tls: HTTPS only, HSTS, and a client that never completes the handshake is cut", async () => {
  using dir = tempDir("cxr-serve-server-");
  const tls = await selfSignedCertificate();
  await using server = await startWithoutModel(dir.path, null, { tls, headersTimeoutMs: 1000 });
  using client = Deno.createHttpClient({ caCerts: [tls.cert] });
  assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const res = await fetch(`${server.url}/healthz`, { client });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: "ok" });
  assert.equal(res.headers.get("strict-transport-security"), "max-age=31536000");
  const local = await fetch(server.url.replace("127.0.0.1", "localhost") + "/healthz", { client });
  assert.equal(local.status, 200);
  await local.body?.cancel();
  // Plain HTTP on the TLS port gets no answer; an unknown certificate is refused by the client.
  await assert.rejects(fetch(server.url.replace("https:", "http:") + "/healthz"));
  await assert.rejects(fetch(`${server.url}/healthz`), TypeError);
  const silent = await slowClient(server.port, "", performance.now());
  assert.ok(
    silent.closedAfter < 4,
    `a silent TLS client was closed after ${silent.closedAfter.toFixed(2)} s`,
  );
  await assert.rejects(
    startScoringServer({ model: dir.path, port: 0, log: () => {}, tls: { cert: "nope", key: tls.key } }),
    /tls\.cert is not a PEM certificate/,
  );
  const other = await selfSignedCertificate();
  await assert.rejects(
    startScoringServer({ model: dir.path, port: 0, log: () => {}, tls: { cert: tls.cert, key: other.key } }),
    (e) =>
      e instanceof TypeError &&
      /tls\.key is not the private key of the certificate \(CN=localhost\)/.test(e.message) &&
      !e.message.includes(other.key),
  );
});

Deno.test("startScoringServer: an upload refused before its body (401) is read to its end before the connection closes, so the client gets the answer and no reset", async () => {
  using dir = tempDir("cxr-serve-server-");
  await using server = await startWithoutModel(dir.path, "linger-test-key-5f2a");
  for (const pause of [50, 300]) {
    const body = new Uint8Array(2 << 20).fill(7);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const head = `POST /score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n` +
      `Content-Type: image/png\r\nContent-Length: ${body.byteLength}\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    await conn.write(body.subarray(0, 65536));
    // The browser is still sending when the answer is ready; it reads the answer only once it has sent all.
    await new Promise((r) => setTimeout(r, pause));
    let wrote = 65536;
    try {
      while (wrote < body.byteLength) wrote += await conn.write(body.subarray(wrote));
    } catch (e) {
      throw new Error(`the server reset the connection after ${wrote} of ${body.byteLength} bytes`, {
        cause: e,
      });
    }
    const buf = new Uint8Array(4096);
    let got = "";
    try {
      for (let n; (n = await conn.read(buf)) !== null;) got += new TextDecoder().decode(buf.subarray(0, n));
    } catch (e) {
      throw new Error(`reading the answer failed after ${JSON.stringify(got)}`, { cause: e });
    } finally {
      conn.close();
    }
    assert.match(got, /^HTTP\/1\.1 401 /);
    assert.match(got, /"code":"unauthorized"/);
    assert.match(got, /\r\nconnection: close\r\n/i);
  }
});
