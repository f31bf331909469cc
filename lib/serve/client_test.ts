import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { scoreLocal, scoreRemote, ScoringUnreachableError } from "./client.ts";
import { createScoringHandler } from "./handler.ts";
import { ScoreHttpError, ScoringServiceError } from "./score_format.ts";
import { tinyPredictor } from "./_testing.ts";

const KEY = "client-test-key-0123456789";
const PNG = new Uint8Array(readFileSync(join(NIH_SAMPLE, "images", "00000100_000.png")));

/** A real server on a free port answering with `handler`; counts the requests; shut down when disposed. */
function serve(handler: (req: Request) => Response | Promise<Response>) {
  let requests = 0;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    requests++;
    return handler(req);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get requests() {
      return requests;
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

const BUSY = { error: { status: 503, code: "busy", message: "queue full" } };
const busy = () => Response.json(BUSY, { status: 503, headers: { "retry-after": "0" } });

Deno.test("scoreRemote: 503 is retried up to the attempts, then reported with its code", async () => {
  await using s = serve(busy);
  await assert.rejects(
    scoreRemote(s.url, PNG, { retry: { attempts: 3, baseDelayMs: 1 } }),
    (e) => e instanceof ScoringServiceError && e.status === 503 && e.code === "busy",
  );
  assert.equal(s.requests, 3);
});

Deno.test("scoreRemote: 401 is final, and the key never reaches a message even when the answer quotes it", async () => {
  await using s = serve((req) =>
    Response.json({
      error: { status: 401, code: "unauthorized", message: `bad key ${req.headers.get("authorization")}` },
    }, { status: 401 })
  );
  const e = await scoreRemote(s.url, PNG, { key: KEY, retry: { baseDelayMs: 1 } }).catch((e) => e);
  assert.ok(e instanceof ScoringServiceError);
  assert.equal(e.code, "unauthorized");
  assert.equal(s.requests, 1);
  assert.ok(!e.message.includes(KEY), e.message);
  assert.match(e.message, /bad key Bearer \*\*\*/);
});

Deno.test("scoreRemote: sends the raw image with its type, the key as Bearer and the heatmap options", async () => {
  let seen: Record<string, string | null> = {};
  await using s = serve(async (req) => {
    const url = new URL(req.url);
    seen = {
      path: url.pathname,
      query: url.search,
      type: req.headers.get("content-type"),
      auth: req.headers.get("authorization"),
      bytes: String((await req.arrayBuffer()).byteLength),
    };
    return Response.json({
      model: { name: "densenet", version: "v" },
      probabilities: { Mass: 0.25 },
      top: { class: "Mass", probability: 0.25 },
      heatmap: "AQID",
      heatmapClass: "Mass",
    });
  });
  const r = await scoreRemote(s.url + "/", PNG, { key: KEY, heatmap: true, className: "Mass" });
  assert.equal(r.heatmapClass, "Mass");
  assert.deepEqual(seen, {
    path: "/score",
    query: "?heatmap=1&class=Mass",
    type: "image/png",
    auth: `Bearer ${KEY}`,
    bytes: String(PNG.length),
  });
});

Deno.test("scoreRemote: a refused connection is retried, then ScoringUnreachableError without the key", async () => {
  const listener = Deno.listen({ port: 0, hostname: "127.0.0.1" });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const options = { key: KEY, retry: { attempts: 2, baseDelayMs: 1 } };
  const e = await scoreRemote(`http://127.0.0.1:${port}`, PNG, options).catch((e) => e);
  assert.ok(e instanceof ScoringUnreachableError, String(e));
  assert.equal(e.attempts, 2);
  assert.match(e.message, new RegExp(`at "http://127.0.0.1:${port}/score" after 2 tries`));
  assert.ok(!e.message.includes(KEY));
});

Deno.test("scoreRemote: no answer within the time limit fails at once (a slow service is not retried)", async () => {
  const { promise: held, resolve: release } = Promise.withResolvers<void>();
  await using s = serve(async () => {
    await held;
    return busy();
  });
  try {
    await assert.rejects(
      scoreRemote(s.url, PNG, { timeoutMs: 50, retry: { attempts: 3, baseDelayMs: 1 } }),
      (e) => e instanceof ScoringUnreachableError && /no answer within 50 ms/.test(e.message),
    );
    assert.equal(s.requests, 1);
  } finally {
    release();
  }
});

Deno.test("scoreRemote: bad arguments are TypeErrors", async () => {
  await assert.rejects(scoreRemote("not a url", PNG), TypeError);
  await assert.rejects(scoreRemote("http://user:pw@h/", PNG), /must not carry a user or password/);
  await assert.rejects(scoreRemote("http://h/", "x" as unknown as Uint8Array), TypeError);
});

Deno.test({
  name: "scoreLocal answers exactly what the service answers for the same image and bundle, heatmap included",
  sanitizeResources: false,
  async fn() {
    using dir = tempDir("cxr-serve-client-");
    await using predictor = await tinyPredictor(dir.path);
    await using s = serve(createScoringHandler(predictor, { key: KEY, log: () => {} }));
    const local = await scoreLocal(predictor, PNG, { heatmap: true, className: "Nodule" });
    const remote = await scoreRemote(s.url, PNG, { key: KEY, heatmap: true, className: "Nodule" });
    assert.deepEqual(remote, local);
    assert.equal(local.heatmapClass, "Nodule");
    assert.equal(Object.keys(local.probabilities).length, 14);
    assert.deepEqual(await scoreRemote(s.url, PNG, { key: KEY }), await scoreLocal(predictor, PNG));
    await assert.rejects(
      scoreLocal(predictor, PNG.subarray(0, 100)),
      (e) => e instanceof ScoreHttpError && e.code === "bad_image",
    );
    await assert.rejects(
      scoreRemote(s.url, PNG.subarray(0, 100), { key: KEY }),
      (e) => e instanceof ScoringServiceError && e.code === "bad_image" && e.status === 400,
    );
  },
});
