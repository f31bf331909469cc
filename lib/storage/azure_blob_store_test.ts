/**
 * Per-try stall timeouts of AzureBlobStore against real local TCP servers (127.0.0.1 only): one that accepts
 * connections and never answers, and one that answers a download's headers and then sends its body slowly or
 * stops half-way.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../tests/_fixtures.ts";
import { AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY } from "./azurite.ts";
import { envSettings, settingsAtPort } from "./_testing.ts";
import { connectStorage } from "./connect.ts";
import { StorageError, StorageTimeoutError, StorageUnreachableError } from "./errors.ts";
import { uploadPath } from "./transfer.ts";

/**
 * A TCP server on 127.0.0.1 that hands every connection to `serve` (by default it accepts and says nothing),
 * closed with its connections when the `await using` scope ends.
 */
function tcpServer(serve: (conn: Deno.Conn) => Promise<void> = () => Promise.resolve()) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.push(conn);
        serve(conn);
      }
    } catch { /* closed */ }
  })();
  return {
    port: listener.addr.port,
    get connections() {
      return conns.length;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await accepting;
    },
  };
}

/**
 * A TCP server that answers any request like a blob download of `size` bytes (headers at once), then sends
 * the body in `chunk`-byte pieces every `everyMs`, stopping for good after `stopAfter` bytes.
 */
function tricklingServer(size: number, chunk: number, everyMs: number, stopAfter = size) {
  return tcpServer(async (conn) => {
    try {
      const buf = new Uint8Array(65536);
      let head = "";
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) return;
        head += new TextDecoder().decode(buf.subarray(0, n));
      }
      const enc = new TextEncoder();
      await conn.write(enc.encode(
        `HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nContent-Type: application/octet-stream\r\n` +
          `ETag: "0x8DC0000000000000"\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\n` +
          `x-ms-blob-type: BlockBlob\r\nx-ms-version: 2021-12-02\r\n\r\n`,
      ));
      for (let sent = 0; sent < Math.min(size, stopAfter); sent += chunk) {
        await new Promise((r) => setTimeout(r, everyMs));
        await conn.write(new Uint8Array(Math.min(chunk, size - sent)).fill(120));
      }
      if (stopAfter < size) await new Promise((r) => setTimeout(r, 60_000)); // closed by close()
    } catch { /* the client went away */ }
  });
}

const settingsFor = (port: number, timeoutMs: number) =>
  settingsAtPort(port, { CXR_STORAGE_TIMEOUT_MS: String(timeoutMs) });

Deno.test({
  name:
    "an endpoint that accepts connections and never answers fails each try after the timeout, then the call",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using tmp = tempDir();
    await using server = tcpServer();
    const retried: unknown[] = [];
    const conn = await connectStorage(settingsFor(server.port, 200), {
      retry: { attempts: 3, baseDelayMs: 1, onRetry: (e) => retried.push(e) },
    });
    assert.equal((conn.store as { tryTimeoutMs?: number }).tryTimeoutMs, 200);
    const endpoint = `http://127.0.0.1:${server.port}/${AZURITE_ACCOUNT}`;
    const started = performance.now();
    await assert.rejects(conn.store.containerExists("nih-images"), (e: unknown) => {
      assert.ok(e instanceof StorageTimeoutError, String(e));
      assert.ok(e instanceof StorageUnreachableError);
      assert.equal(e.code, "ETIMEDOUT");
      assert.equal(
        e.message,
        `Blob storage at ${endpoint} did not answer for "nih-images": each of 3 tries gave up after 200 ms ` +
          "without an answer or a byte moved (CXR_STORAGE_TIMEOUT_MS); check that this endpoint is reachable " +
          "and is a blob service",
      );
      assert.ok(!e.message.includes(AZURITE_ACCOUNT_KEY.reveal()));
      return true;
    });
    const seconds = (performance.now() - started) / 1000;
    assert.ok(seconds >= 0.6 && seconds < 5, `3 tries of 200 ms took ${seconds} s`);
    assert.equal(server.connections, 3, "each try went out");
    assert.equal(retried.length, 2);
    assert.ok(retried.every((e) => e instanceof StorageTimeoutError && e.message.includes(endpoint)));

    // A whole upload stops at its first request, with the same error, and writes nothing locally.
    Deno.writeTextFileSync(join(tmp.path, "a.txt"), "hello");
    await assert.rejects(
      uploadPath(join(tmp.path, "a.txt"), { store: conn.store, container: "docs" }),
      StorageTimeoutError,
    );
    await conn.close();
  },
});

Deno.test({
  name:
    "a download that keeps moving bytes is never cut off; one that stops half-way times out, no file left",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using tmp = tempDir();
    // 20 chunks 50 ms apart: 1 s in all, five times the 200 ms stall limit.
    await using slow = tricklingServer(2000, 100, 50);
    await using stalled = tricklingServer(2000, 100, 10, 500);
    const a = await connectStorage(settingsFor(slow.port, 200), { retry: { attempts: 1 } });
    const dest = join(tmp.path, "slow", "blob.bin");
    const started = performance.now();
    const info = await a.store.downloadFile({ container: "c", name: "blob.bin" }, dest);
    assert.ok(performance.now() - started > 800, "the body took about 1 s");
    assert.equal(info.size, 2000);
    assert.equal(Deno.statSync(dest).size, 2000);

    const b = await connectStorage(settingsFor(stalled.port, 200), {
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    const dest2 = join(tmp.path, "stalled", "blob.bin");
    await assert.rejects(
      b.store.downloadFile({ container: "c", name: "blob.bin" }, dest2),
      (e: unknown) =>
        e instanceof StorageTimeoutError && /each of 2 tries gave up after 200 ms/.test(e.message),
    );
    assert.equal(existsSync(dest2), false);
    assert.deepEqual(readdirSync(join(tmp.path, "stalled")), [], "no partial file left behind");
  },
});

Deno.test("CXR_STORAGE_TIMEOUT_MS: default 30 s; a bad value names the variable", () => {
  assert.equal(envSettings({}).storage.tryTimeoutMs, 30_000);
  assert.equal(envSettings({ CXR_STORAGE_TIMEOUT_MS: "2500" }).storage.tryTimeoutMs, 2500);
  for (const bad of ["0", "-5", "1.5", "soon", "99999999999"]) {
    assert.throws(
      () => envSettings({ CXR_STORAGE_TIMEOUT_MS: bad }),
      (e: unknown) =>
        e instanceof Error && e.name === "ConfigError" &&
        /CXR_STORAGE_TIMEOUT_MS=".*" must be a whole number of milliseconds from 1 to 3600000/.test(
          e.message,
        ),
      bad,
    );
  }
  assert.ok(new StorageTimeoutError("x") instanceof StorageError);
});
