import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { FINDINGS } from "../nih/mod.ts";
import { readGreyImage } from "../eval/mod.ts";
import { type EvaluationRecord, parseBundleMetadata, type Predictor } from "../model/mod.ts";
import { Secret } from "../secrets.ts";
import { createScoringHandler, type ScoringHandlerOptions, type ScoringLogEntry } from "./handler.ts";
import { base64 } from "../display.ts";
import { parseScoreResponse, type ScoreResponseJson } from "./score_format.ts";
import { AUTH, bodyStream, KEY, pngWithHeader, post, tinyPredictor, wrapPredictor } from "./_testing.ts";
import { writeDicom } from "../images/_dicom_testing.ts";

const PNG = { "content-type": "image/png" };
const JSON_TYPE = { "content-type": "application/json" };
const DICOM = { "content-type": "application/dicom" };
const NIH_PNG = readFileSync(join(NIH_SAMPLE, "images", "00000100_000.png"));
/** A PNG body that declares its length. */
const DECLARED = { ...PNG, "content-length": String(NIH_PNG.length) };

using bundleDir = tempDir("cxr-serve-");
const predictor = await tinyPredictor(bundleDir.path);

function setup(options: ScoringHandlerOptions = {}, p: Predictor | Promise<Predictor> = predictor) {
  const logs: ScoringLogEntry[] = [];
  const handler = createScoringHandler(p, { key: new Secret(KEY), log: (e) => logs.push(e), ...options });
  return { handler, logs };
}

/** A GET (or `init`) request for a path of the handler. */
function get(path: string, init?: RequestInit): Request {
  return new Request(`http://local${path}`, init);
}

/** The handler's metrics, read with the key. */
async function metricsOf(handler: (r: Request) => Promise<Response>): Promise<string> {
  return await (await handler(get("/metrics", { headers: AUTH }))).text();
}

/** A 200 answer's body, parsed (its probabilities checked to be of `classNames`, in order, when given). */
async function scored(res: Response, classNames?: readonly string[]): Promise<ScoreResponseJson> {
  assert.equal(res.status, 200);
  return parseScoreResponse(await res.text(), 200, classNames && { classNames });
}

/** The error document of `res` (its status is the answer's), checked to be `status` and `code` when given. */
async function errorOf(
  res: Response,
  status?: number,
  code?: string,
): Promise<{ status: number; code: string; message: string }> {
  const body = await res.json();
  assert.equal(body.error.status, res.status);
  if (status !== undefined) {
    assert.deepEqual([res.status, body.error.code], [status, code], body.error.message);
  }
  return body.error;
}

Deno.test("score: a real NIH PNG as a raw body, and as JPEG in JSON, with a heatmap", async () => {
  const { handler, logs } = setup();
  const body = await scored(await handler(post(NIH_PNG, PNG)), FINDINGS);
  assert.deepEqual(body.model, { name: "densenet-tiny", version: "tiny-v1" });
  const best = Math.max(...Object.values(body.probabilities));
  assert.equal(body.top.probability, best);
  assert.equal(body.probabilities[body.top.class], best);
  assert.equal(body.heatmap, undefined);

  const jpeg = await sharp(NIH_PNG).resize(700, 600).jpeg({ quality: 85 }).toBuffer();
  const json = JSON.stringify({ image: base64(jpeg), heatmap: true, class: "Effusion" });
  const body2 = await scored(await handler(post(json, JSON_TYPE)));
  assert.equal(body2.heatmapClass, "Effusion");
  const meta = await sharp(Uint8Array.fromBase64(body2.heatmap!)).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ["png", 512, 439, 3]);

  const body3 = await scored(await handler(post(NIH_PNG, PNG, "?heatmap=1")));
  assert.equal(body3.heatmapClass, body3.top.class);
  assert.equal((await sharp(Uint8Array.fromBase64(body3.heatmap!)).metadata()).width, 512);
  assert.deepEqual(logs.map((l) => [l.route, l.status]), [["/score", 200], ["/score", 200], ["/score", 200]]);
  assert.ok(logs.every((l) => typeof l.ms === "number" && typeof l.id === "string"));
});

Deno.test("score: a DICOM of the NIH PNG's pixels scores like the PNG; an unsupported transfer syntax is refused", async () => {
  const seen: Uint8Array[] = []; // the model's input pixels, to check the DICOM path feeds the same ones
  const { handler } = setup({}, wrapPredictor(predictor, { record: seen }));
  const { data: grey, width, height } = await readGreyImage(NIH_PNG);
  const probs = async (res: Response) => (await scored(res, FINDINGS)).probabilities;
  const fromPng = await probs(await handler(post(NIH_PNG, PNG)));
  // window center 128, width 256 maps stored value v to v exactly, so the DICOM carries the PNG's pixels
  for (const transferSyntax of ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]) {
    const dicom = writeDicom(grey, width, height, { transferSyntax, windowCenter: 128, windowWidth: 256 });
    const raw = await probs(await handler(post(dicom, DICOM)));
    const json = JSON.stringify({ image: base64(dicom), heatmap: true });
    const body = await scored(await handler(post(json, JSON_TYPE)));
    assert.equal((await sharp(Uint8Array.fromBase64(body.heatmap!)).metadata()).width, 512);
    assert.equal(Object.keys(raw).length, 14);
    for (const name of FINDINGS) {
      const want = fromPng[name] ?? NaN;
      assert.ok(Math.abs((raw[name] ?? NaN) - want) < 1e-3, `${name}: ${raw[name]} vs ${want}`);
      assert.ok(Math.abs((body.probabilities[name] ?? NaN) - want) < 1e-3, name);
    }
  }
  assert.equal(seen.length, 5);
  for (const pixels of seen.slice(1)) assert.deepEqual(pixels, seen[0]);
  const negative = writeDicom(grey, width, height, { photometric: "MONOCHROME1" });
  await probs(await handler(post(negative, DICOM)));
  assert.notDeepEqual(seen[5], seen[0]); // the check above can tell pixels apart
  const jpegSyntax = writeDicom(grey.subarray(0, 16), 4, 4, { transferSyntax: "1.2.840.10008.1.2.4.100" });
  const e = await errorOf(await handler(post(jpegSyntax, DICOM)), 400, "bad_image");
  assert.match(e.message, /transfer syntax 1\.2\.840\.10008\.1\.2\.4\.100 is not supported/);
  const page = await (await handler(get("/"))).text();
  assert.match(page, /accept="image\/png,image\/jpeg,\.dcm,application\/dicom"/);
});

Deno.test("health, readiness, page, metrics, HEAD, 404 and 405", async () => {
  const { handler } = setup();
  assert.deepEqual(await (await handler(get("/healthz"))).json(), { status: "ok" });
  const ready = await handler(get("/readyz"));
  assert.deepEqual(await ready.json(), { status: "ready", engine: "tfjs", modelVersion: "tiny-v1" });
  const page = await handler(get("/"));
  assert.match(page.headers.get("content-type")!, /text\/html/);
  assert.match(await page.text(), /<input id="file" type="file"/);
  const head = await handler(get("/healthz", { method: "HEAD" }));
  assert.deepEqual([head.status, await head.text()], [200, ""]);

  await errorOf(await handler(get("/nope")), 404, "not_found");
  const wrong = await handler(get("/score"));
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "POST");
  assert.match((await errorOf(wrong)).message, /Method GET is not allowed on \/score; allowed: POST/);

  assert.equal((await handler(get("/metrics"))).status, 401);
  const metrics = await handler(get("/metrics", { headers: AUTH }));
  const text = await metrics.text();
  assert.match(metrics.headers.get("content-type")!, /text\/plain; version=0\.0\.4/);
  assert.match(text, /^cxr_requests_total\{route="\/healthz",status="200"\} 2$/m);
  assert.match(text, /^cxr_requests_total\{route="other",status="404"\} 1$/m);
  assert.match(text, /^cxr_requests_total\{route="\/score",status="405"\} 1$/m);
  assert.match(text, /^cxr_errors_total\{code="unauthorized"\} 1$/m);
  assert.match(text, /^cxr_model_info\{name="densenet-tiny",version="tiny-v1",engine="tfjs"\} 1$/m);
  assert.match(text, /^cxr_request_duration_seconds_count\{route="\/readyz"\} 1$/m);
  const open = setup({ openMetrics: true }).handler;
  assert.equal((await open(get("/metrics"))).status, 200);
});

Deno.test("GET /model: the card as Markdown and the metadata as JSON without the key; /score still needs it", async () => {
  const { handler, logs } = setup();
  const card = await handler(get("/model"));
  assert.equal(card.status, 200);
  assert.equal(card.headers.get("content-type"), "text/markdown; charset=utf-8");
  const text = await card.text();
  assert.match(text, /^# Model card: tiny-v1\n/);
  assert.match(text, /## Intended use and limits/);
  assert.match(text, /No clinical validation/);
  assert.match(text, /Frontal views only/);
  assert.equal(text, await (await handler(get("/model?format=markdown"))).text());

  const json = await handler(get("/model?format=json"));
  assert.equal(json.status, 200);
  assert.match(json.headers.get("content-type")!, /^application\/json/);
  const raw = await json.text();
  assert.deepEqual(parseBundleMetadata(raw, "GET /model"), predictor.metadata);
  assert.ok(!raw.includes(KEY) && !text.includes(KEY));

  const head = await handler(get("/model", { method: "HEAD" }));
  assert.deepEqual([head.status, await head.text()], [200, ""]);
  const bad = await handler(get("/model?format=xml"));
  assert.equal(bad.status, 400);
  assert.match((await errorOf(bad)).message, /Unknown format "xml"; expected markdown or json/);
  assert.equal((await handler(get("/model", { method: "POST", body: "x" }))).status, 405);

  const denied = await handler(post(NIH_PNG, PNG, "", {}));
  assert.equal(denied.status, 401);
  assert.equal((await handler(post(NIH_PNG, PNG))).status, 200);
  const modelLogs = logs.map((l) => [l.route, l.status]).slice(0, 3);
  assert.deepEqual(modelLogs, [["/model", 200], ["/model", 200], ["/model", 200]]);
});

Deno.test("GET /model: a recorded evaluation is served beside CheXNet; 503 while the model loads", async () => {
  const evaluation: EvaluationRecord = {
    partition: "test",
    images: 2,
    recordedAt: "2026-12-06T00:00:00.000Z",
    engine: "tfjs",
    bootstrap: { resamples: 100, confidence: 0.95, seed: 0 },
    classes: Object.fromEntries(
      FINDINGS.map((f) => [f, { auroc: 0.75, ci: [0.5, 1] as [number, number], positives: 1, negatives: 1 }]),
    ),
    mean: { auroc: 0.75, ci: [0.5, 1], classes: 14 },
    reference: { name: "CheXNet", source: "arXiv:1711.05225", perClass: { Cardiomegaly: 0.9248 } },
  };
  const evaluated = { ...wrapPredictor(predictor, {}), metadata: { ...predictor.metadata, evaluation } };
  const text = await (await setup({}, evaluated).handler(get("/model"))).text();
  assert.match(text, /Partition `test`, 2 images, scored with tfjs/);
  assert.match(text, /\| finding \| AUROC \| 95 % CI \| positives \| negatives \| CheXNet \|/);
  assert.match(text, /\| Cardiomegaly \| 0\.750 \| 0\.500–1\.000 \| 1 \| 1 \| 0\.925 \|/);

  const loading = setup({}, new Promise<Predictor>(() => {})).handler;
  await errorOf(await loading(get("/model")), 503, "not_ready");
});

Deno.test("401 without or with a wrong key; the key is never in a body or a log line", async () => {
  const { handler, logs } = setup();
  const cases = [{}, { authorization: "Bearer nope" }, { authorization: `Basic ${KEY}` }];
  for (const headers of cases) {
    const res = await handler(post(NIH_PNG, PNG, "", headers));
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="cxr-scoring"');
    const text = await res.text();
    assert.ok(!text.includes(KEY));
    assert.equal(JSON.parse(text).error.code, "unauthorized");
  }
  const noAuth = createScoringHandler(predictor, { log: () => {} });
  assert.equal((await noAuth(post(NIH_PNG, PNG, "", {}))).status, 200);
  assert.equal(logs.length, 3);
  assert.ok(!JSON.stringify(logs).includes(KEY));
});

Deno.test("413 early by Content-Length and while streaming; 415 before reading", async () => {
  const { handler } = setup({ maxBodyBytes: 1000 });
  const declared = await handler(post(NIH_PNG, DECLARED));
  assert.equal(declared.status, 413);
  assert.match((await errorOf(declared)).message, /is \d+ bytes \(Content-Length\); the limit is 1000 bytes/);
  const { stream, pulled } = bodyStream((k) => k > 1000 ? undefined : new Uint8Array(100));
  await errorOf(await handler(post(stream, PNG)), 413, "too_large");
  assert.ok(pulled() < 20, `read ${pulled()} chunks after the limit`);
  const type = await handler(post("hello", { "content-type": "text/plain" }));
  await errorOf(type, 415, "unsupported_media_type");
});

Deno.test("400 for undecodable images with the decoder's reason, and for bad requests", async () => {
  const { handler } = setup();
  const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 1, g: 2, b: 3 } } })
    .gif()
    .toBuffer();
  const images: [Uint8Array | string, RegExp][] = [
    [NIH_PNG.subarray(0, 5000), /Cannot decode the image: truncated PNG: no IEND chunk/],
    ["not an image at all", /Cannot decode the image: not a PNG, JPEG or DICOM image \(no known signature\)/],
    [
      '<svg xmlns="http://www.w3.org/2000/svg" width="9000" height="9000"/>',
      /not a PNG, JPEG or DICOM image \(its bytes are SVG or XML text\)/,
    ],
    [await pngWithHeader(100000, 100000), /100000x100000 pixels, more than the limit/],
    [gif, /not a PNG, JPEG or DICOM image \(its bytes are a GIF image\)/],
  ];
  for (const [bytes, pattern] of images) {
    const e = await errorOf(await handler(post(bytes, PNG)), 400, "bad_image");
    assert.match(e.message, pattern);
  }
  const requests: [Request, RegExp][] = [
    [post("", PNG), /empty/],
    [post('{"image": "AQID"', JSON_TYPE), /line 1, column 17: invalid JSON/],
    [post('{"image": "@@@@"}', JSON_TYPE), /invalid base64 character "@"/],
    [post(NIH_PNG, PNG, "?class=Flu"), /Unknown finding "Flu"/],
  ];
  for (const [req, pattern] of requests) {
    const e = await errorOf(await handler(req), 400, "bad_request");
    assert.match(e.message, pattern);
  }
});

/** Polls the handler's own metrics until `pattern` shows (no fixed sleeps; fails after 20 s, never hangs). */
async function until(handler: (r: Request) => Promise<Response>, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 20_000;
  let text = "";
  while (!pattern.test(text = await metricsOf(handler))) {
    if (Date.now() > deadline) assert.fail(`the metrics never matched ${pattern}:\n${text}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("503 busy when the queue is full; the queue drains in order", async () => {
  const { promise: opened, resolve: open } = Promise.withResolvers<void>();
  const slow = wrapPredictor(predictor, { gate: () => opened });
  const { handler } = setup({ maxConcurrent: 1, maxQueue: 1, timeoutMs: 60_000 }, slow);
  const first = handler(post(NIH_PNG, PNG));
  await until(handler, /^cxr_requests_in_flight 1$/m);
  const second = handler(post(NIH_PNG, PNG));
  await until(handler, /^cxr_requests_queued 1$/m);
  const third = await handler(post(NIH_PNG, PNG));
  assert.equal(third.headers.get("retry-after"), "1");
  const e = await errorOf(third, 503, "busy");
  assert.match(e.message, /1 requests running and 1 queued/);
  open();
  assert.deepEqual([(await first).status, (await second).status], [200, 200]);
  await until(handler, /^cxr_requests_in_flight 0$/m);
});

Deno.test("timeout: 504 once running, 503 while still queued", async () => {
  const { promise: inside, resolve: entered } = Promise.withResolvers<void>();
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  const stuck = wrapPredictor(predictor, {
    gate: () => {
      entered();
      return released;
    },
  });
  const { handler } = setup({ maxConcurrent: 1, maxQueue: 4, timeoutMs: 1000 }, stuck);
  const small = await sharp(NIH_PNG).resize(64, 64).png().toBuffer();
  const running = handler(post(small, PNG));
  await inside;
  const queued = await handler(post(small, PNG));
  const first = await running;
  await errorOf(first, 504, "timeout");
  await errorOf(queued, 503, "timeout");
  assert.match(await metricsOf(handler), /^cxr_requests_queued 0$/m);
  release();
  await until(handler, /^cxr_requests_in_flight 0$/m); // the abandoned work ends and frees its slot
});

Deno.test("not ready while the model loads or after it failed; 500 hides internals", async () => {
  const { promise: loading, resolve } = Promise.withResolvers<Predictor>();
  const { handler } = setup({}, loading);
  assert.equal((await handler(get("/healthz"))).status, 200);
  const r = await handler(get("/readyz"));
  await errorOf(r, 503, "not_ready");
  assert.equal(r.headers.get("retry-after"), "5");
  assert.equal((await handler(post(NIH_PNG, PNG))).status, 503);
  resolve(predictor);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal((await handler(get("/readyz"))).status, 200);

  const failed = setup({}, Promise.reject(new Error(`load failed with key ${KEY}`))).handler;
  await new Promise((r) => setTimeout(r, 0));
  assert.equal((await handler(get("/readyz"))).status, 200);
  const fe = await errorOf(await failed(get("/readyz")));
  assert.match(fe.message, /The model could not be loaded: load failed with key \*\*\*/);

  const b = setup({}, wrapPredictor(predictor, { fail: new Error(`boom ${KEY}`) }));
  const e = await errorOf(await b.handler(post(NIH_PNG, PNG)), 500, "internal");
  assert.match(e.message, /^Internal error \(request [\w-]+\)$/);
  assert.equal(b.logs[0]?.error, "Error: boom ***");
  assert.equal(b.logs[0]?.level, "error");
});

Deno.test("never crashes on random input: every answer is a 4xx error document", async () => {
  const { handler } = setup({ maxBodyBytes: 4096 });
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const types = ["image/png", "image/jpeg", "application/json", "text/plain", "", "image/png; x=1"];
  const pngHead = NIH_PNG.subarray(0, 33);
  for (let i = 0; i < 60; i++) {
    const n = Math.floor(rand() * 300);
    const bytes = new Uint8Array(n).map(() => Math.floor(rand() * 256));
    if (i % 3 === 0) bytes.set(pngHead.subarray(0, Math.min(n, 33)));
    const body = i % 5 === 0
      ? JSON.stringify({ image: String.fromCharCode(...bytes.subarray(0, 40)) })
      : bytes;
    const res = await handler(post(body, { "content-type": types[i % types.length]! }));
    assert.ok(res.status >= 400 && res.status < 500, `case ${i}: ${res.status}`);
    await errorOf(res);
  }
});

Deno.test("drain: readyz turns 503, open requests still finish, then drain settles", async () => {
  const { promise: opened, resolve: open } = Promise.withResolvers<void>();
  const { handler } = setup({}, wrapPredictor(predictor, { gate: () => opened }));
  assert.equal(handler.open, 0);
  const pending = handler(post(NIH_PNG, PNG));
  await until(handler, /^cxr_requests_in_flight 1$/m);
  assert.equal(handler.open, 1);
  let drained = false;
  const draining = handler.drain().then(() => drained = true);
  const ready = await handler(get("/readyz"));
  assert.deepEqual([ready.status, (await errorOf(ready)).message], [503, "The service is shutting down"]);
  assert.equal(drained, false);
  open();
  assert.equal((await pending).status, 200);
  await draining;
  assert.equal(handler.open, 0);
  await handler.drain(); // settles at once when nothing is open
});

/** `bytes` as a body stream of 64 KiB chunks that counts the chunks pulled from it. */
function counted(bytes: Uint8Array) {
  const at = (k: number) => (k - 1) * 65536;
  return bodyStream((k) => at(k) < bytes.length ? bytes.slice(at(k), at(k + 1)) : undefined);
}

Deno.test("admission: past the byte budget or a full queue, 503 busy before a byte of the body is read", async () => {
  const { promise: opened, resolve: open } = Promise.withResolvers<void>();
  const slow = wrapPredictor(predictor, { gate: () => opened });
  const n = NIH_PNG.length;
  const limits = { maxBodyBytes: n + 100, maxInflightBytes: Math.floor(n * 1.5), timeoutMs: 60_000 };
  const { handler, logs } = setup({ ...limits, maxConcurrent: 1, maxQueue: 0 }, slow);
  const first = handler(post(NIH_PNG, DECLARED));
  await until(handler, /^cxr_requests_in_flight 1$/m);
  // the queue is full (maxQueue 0): refused before reading
  const queued = counted(NIH_PNG);
  const full = await handler(post(queued.stream, DECLARED));
  assert.deepEqual([full.status, full.headers.get("retry-after")], [503, "1"]);
  assert.match((await errorOf(full)).message, /1 requests running and 0 queued/);
  assert.equal(queued.pulled(), 0);
  assert.equal(full.headers.get("connection"), "close"); // so the server does not drain the unread upload
  // a body that does not fit the budget beside the one held: refused before reading
  const wide = setup(limits, slow);
  const held = wide.handler(post(NIH_PNG, DECLARED));
  await until(wide.handler, /^cxr_requests_in_flight 1$/m);
  const over = counted(NIH_PNG);
  const refused = await wide.handler(post(over.stream, DECLARED));
  assert.deepEqual([refused.status, refused.headers.get("retry-after")], [503, "1"]);
  assert.equal(refused.headers.get("connection"), "close");
  const e = await errorOf(refused, 503, "busy");
  assert.match(e.message, /MiB of request bodies are in flight and this one needs \d+\.\d MiB; the limit is/);
  assert.equal(over.pulled(), 0);
  await until(wide.handler, new RegExp(`^cxr_request_body_bytes_in_flight ${n}$`, "m"));
  // a chunked body reserves the body limit, so it does not fit either
  const chunked = await wide.handler(post(counted(NIH_PNG.subarray(0, 1000)).stream, PNG));
  assert.equal(chunked.status, 503);
  open();
  assert.deepEqual([(await first).status, (await held).status], [200, 200]);
  await until(wide.handler, /^cxr_request_body_bytes_in_flight 0$/m); // released once the work ended
  const admitted = counted(NIH_PNG);
  const ok = await wide.handler(post(admitted.stream, DECLARED));
  assert.deepEqual([ok.status, ok.headers.get("connection")], [200, null]); // read in full: keep-alive
  assert.ok(admitted.pulled() > 1);
  assert.match(
    await metricsOf(wide.handler),
    new RegExp(`^cxr_request_body_bytes_limit ${Math.floor(n * 1.5)}$`, "m"),
  );
  assert.deepEqual(logs.filter((l) => l.route === "/score").map((l) => [l.status, l.code]), [
    [503, "busy"],
    [200, undefined],
  ]);
  assert.throws(
    () => createScoringHandler(predictor, { maxBodyBytes: 1000, maxInflightBytes: 999 }),
    /maxInflightBytes \(999\) must be at least maxBodyBytes \(1000\)/,
  );
});

Deno.test("a client that closes mid-body is 499 client_closed, in process and on a real socket, never 500", async () => {
  const { handler, logs } = setup();
  const cut = bodyStream((k) => k <= 2 ? NIH_PNG.subarray(0, 1000) : new Error("connection reset by peer"));
  await errorOf(await handler(post(cut.stream, DECLARED)), 499, "client_closed");
  assert.deepEqual([logs[0]?.status, logs[0]?.code, logs[0]?.level], [499, "client_closed", "warn"]);

  await using server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const head = `POST /score HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${KEY}\r\n` +
    `content-type: image/png\r\ncontent-length: ${NIH_PNG.length}\r\n\r\n`;
  await conn.write(new TextEncoder().encode(head));
  await conn.write(NIH_PNG.subarray(0, 20000));
  await new Promise((r) => setTimeout(r, 50));
  conn.close();
  for (let waited = 0; logs.length < 2 && waited < 20_000; waited += 10) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual([logs[1]?.status, logs[1]?.code, logs[1]?.level], [499, "client_closed", "warn"]);
  const metrics = await metricsOf(handler);
  assert.match(metrics, /^cxr_requests_total\{route="\/score",status="499"\} 2$/m);
  assert.match(metrics, /^cxr_errors_total\{code="client_closed"\} 2$/m);
  assert.doesNotMatch(metrics, /code="internal"|status="500"/);
  assert.match(metrics, /^cxr_request_body_bytes_in_flight 0$/m);
});

Deno.test("score answers carry Cache-Control: no-store (health data); other routes do not", async () => {
  const { handler } = setup();
  const answers = [
    await handler(post(NIH_PNG, PNG)),
    await handler(post("x", { "content-type": "text/plain" })),
    await handler(get("/score", { method: "POST", body: "x" })),
  ];
  assert.deepEqual(answers.map((r) => r.status), [200, 415, 401]);
  for (const r of answers) {
    assert.equal(r.headers.get("cache-control"), "no-store");
    await r.body?.cancel();
  }
  assert.equal((await handler(get("/healthz"))).headers.get("cache-control"), null);
});

Deno.test("an image over maxDecodedBytes is 400 bad_image naming the limit; nested JSON is 400 at once", async () => {
  const { handler } = setup({ maxDecodedBytes: 8 * 1048576 });
  const rgba16 = await sharp({
    create: { width: 1500, height: 1500, channels: 4, background: { r: 90, g: 90, b: 90, alpha: 1 } },
  }).toColourspace("rgb16").png({ progressive: true }).toBuffer();
  const e = await errorOf(await handler(post(rgba16, PNG)), 400, "bad_image");
  assert.equal(
    e.message,
    "Cannot decode the image: it is 1500x1500 pixels, 4 channels of 16 bits, interlaced: 18000000 bytes " +
      "(17 MiB) decoded, more than the limit of 8388608 bytes (8.0 MiB)",
  );
  const json = JSON.stringify({ image: base64(rgba16) });
  assert.equal((await handler(post(json, JSON_TYPE))).status, 400);
  const grey = await sharp(rgba16).toColourspace("b-w").png().toBuffer(); // 2.1 MiB decoded: fits
  assert.equal((await handler(post(grey, PNG))).status, 200);
  const nested = `{"image": ${"[".repeat(1_000_000)}`;
  const n = await errorOf(await handler(post(nested, JSON_TYPE)), 400, "bad_request");
  assert.match(n.message, /line 1, column 2: "image" must be a base64 string, not an array/);
});
