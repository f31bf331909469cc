import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../../tests/_fixtures.ts";
import { startScoringServer } from "./server.ts";

Deno.test("startScoringServer: a bundle that cannot load keeps answering 503 not_ready with the reason", async () => {
  using dir = tempDir("cxr-serve-server-");
  const server = await startScoringServer({
    model: join(dir.path, "missing"),
    engine: "tfjs",
    backend: "cpu",
    port: 0,
    key: null,
    log: () => {},
  });
  try {
    await assert.rejects(server.ready, /ENOENT|No such file/);
    assert.equal(server.engine, null);
    assert.equal((await (await fetch(`${server.url}/healthz`)).json()).status, "ok");
    const res = await fetch(`${server.url}/readyz`);
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.error.code, "not_ready");
    assert.match(body.error.message, /^The model could not be loaded: .*metadata\.json/);
  } finally {
    await server.close();
  }
  await assert.rejects(
    startScoringServer({ model: dir.path, port: 70000 }),
    /port must be an integer 0..65535, got 70000/,
  );
});
