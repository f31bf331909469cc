import assert from "node:assert/strict";
import { join } from "node:path";
import { systemEnvironment } from "./environment.ts";
import { tempDir } from "../../tests/_fixtures.ts";

const env = systemEnvironment();

Deno.test("run: output and exit code, 127 for a missing program, 124 for one killed at its timeout", async () => {
  assert.deepEqual(await env.run("sh", ["-c", "echo out; echo err >&2; exit 3"]), {
    code: 3,
    stdout: "out\n",
    stderr: "err\n",
  });
  assert.equal((await env.run("sh", ["-c", "echo $X"], { env: { X: "passed" } })).stdout, "passed\n");
  assert.equal((await env.run("no-such-program-here", [])).code, 127);
  const slow = await env.run("sleep", ["30"], { timeoutMs: 100 });
  assert.equal(slow.code, 124);
});

Deno.test("get over a real unix socket (as Docker's API is reached) and portFree on a real listener", async () => {
  using dir = tempDir("cxr-vm-");
  const path = join(dir.path, "docker.sock");
  await using _server = Deno.serve(
    { path, onListen: () => {} },
    (req) =>
      new Response(new URL(req.url).pathname === "/_ping" ? "OK" : "?", {
        headers: { "Api-Version": "1.50" },
      }),
  );
  const r = await env.get("http://docker/_ping", { unixSocket: path });
  assert.deepEqual([r.status, r.headers["api-version"], r.body], [200, "1.50", "OK"]);
  await assert.rejects(env.get("http://docker/_ping", { unixSocket: join(dir.path, "missing.sock") }));
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  assert.equal(await env.portFree(port), false);
  listener.close();
  assert.equal(await env.portFree(port), true);
});
