import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../tests/_fixtures.ts";
import { startAzurite } from "./azurite.ts";
import { connectStorage } from "./connect.ts";
import { StorageError } from "./errors.ts";
import { uploadPath } from "./transfer.ts";
import { IMAGES, png, PNGS, settingsAtPort } from "./_testing.ts";

const BUSY = '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code>' +
  "<Message>The server is busy.</Message></Error>";

/**
 * A real HTTP proxy in front of Azurite that answers the requests `refuse` picks with 503 ServerBusy (the
 * body and headers Azure sends when overloaded) and forwards the rest unchanged.
 */
function flakyProxy(target: number) {
  let n = 0;
  const control = { refuse: (_req: Request, _n: number) => false, forwarded: 0, refused: 0 };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (control.refuse(req, ++n)) {
      control.refused++;
      await req.body?.cancel();
      return new Response(BUSY, {
        status: 503,
        headers: { "content-type": "application/xml", "x-ms-error-code": "ServerBusy" },
      });
    }
    control.forwarded++;
    const url = new URL(req.url);
    url.port = String(target);
    const res = await fetch(url, {
      method: req.method,
      headers: req.headers,
      body: req.body ? await req.arrayBuffer() : null,
      redirect: "manual",
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  });
  return { port: server.addr.port, control, close: () => server.shutdown() };
}

Deno.test({
  name: "transient 503s are retried with backoff; without retries they fail the file, not the run",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using tmp = tempDir();
    const azurite = await startAzurite(join(tmp.path, "azurite"), { port: 0 });
    const proxy = flakyProxy(azurite.port);
    proxy.control.refuse = (_req, n) => n % 3 === 0;
    const settings = settingsAtPort(proxy.port);
    try {
      const conn = await connectStorage(settings, { retry: { attempts: 8, baseDelayMs: 1 } });
      const s = await uploadPath(IMAGES, { store: conn.store, container: "flaky" }, { concurrency: 4 });
      assert.deepEqual([s.files, s.failed], [PNGS.length, 0]);
      assert.ok(proxy.control.refused > 10, "the proxy refused every third request");
      const back = join(tmp.path, "back.png");
      await conn.store.downloadFile({ container: "flaky", name: png(4) }, back);
      assert.deepEqual(readFileSync(back), readFileSync(join(IMAGES, png(4))));

      // Without retries, the one blob the proxy always refuses fails; the run goes on and says why.
      proxy.control.refuse = (req) => req.method === "PUT" && req.url.includes(`/flaky2/${png(0)}`);
      const once = await connectStorage(settings, { retry: { attempts: 1 } });
      const t = await uploadPath(IMAGES, { store: once.store, container: "flaky2" }, { concurrency: 2 });
      assert.deepEqual([t.files, t.failed], [PNGS.length - 1, 1]);
      assert.equal(t.failures[0]?.name, png(0));
      assert.match(t.failures[0]?.reason ?? "", /^StorageError: .*\(HTTP 503 ServerBusy\)/);
      // With retries it fails too when the refusal persists, but only after the capped attempts.
      const before = proxy.control.refused;
      await assert.rejects(
        conn.store.uploadFile(join(IMAGES, png(0)), { container: "flaky2", name: png(0) }),
        (e: Error) => e instanceof StorageError && /HTTP 503 ServerBusy/.test(e.message),
      );
      assert.equal(proxy.control.refused - before, 8);
    } finally {
      await proxy.close();
      await azurite.close();
    }
  },
});

Deno.test("withTryTimeout: progress keeps a slow try alive; a stall aborts it and names the limit", async () => {
  const { TryTimeoutError, withTryTimeout } = await import("./_retry.ts");
  // 10 steps of 30 ms under a 100 ms stall limit: 300 ms in all, never 100 ms without progress.
  const slow = await withTryTimeout(async ({ onProgress, abortSignal }) => {
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 30));
      assert.equal(abortSignal.aborted, false);
      onProgress();
    }
    return "done";
  }, 100);
  assert.equal(slow, "done");
  let aborted: unknown;
  const started = performance.now();
  await assert.rejects(
    withTryTimeout(
      ({ abortSignal }) =>
        new Promise((_, reject) =>
          abortSignal.addEventListener("abort", () => {
            aborted = abortSignal.reason;
            reject(new DOMException("The operation was aborted.", "AbortError"));
          })
        ),
      50,
    ),
    (e: unknown) => e instanceof TryTimeoutError && e.ms === 50 && e.code === "ETIMEDOUT",
  );
  assert.ok(aborted instanceof TryTimeoutError, "the signal carries the timeout as its reason");
  assert.ok(performance.now() - started < 1000, "a try that honours the signal ends at once");
  await assert.rejects(withTryTimeout(() => Promise.resolve(1), 0), RangeError);
  await assert.rejects(withTryTimeout(() => Promise.reject(new Error("own")), 1000), /own/);
});
