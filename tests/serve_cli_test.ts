/**
 * `deno task cxr serve` as a real subprocess on a real socket: the key setting, `Listening on` once the
 * model is loaded, scoring a real NIH PNG, 401 without the key, JSON log lines on stderr that never hold
 * the key, the ONNX engine with `--json`, a SIGTERM that lets a request in flight finish, and HTTPS with
 * `--tls-cert`/`--tls-key` and a self-signed certificate made in the test.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { createDenseNet, saveBundle, selectBackend, writeBundleOnnx } from "../lib/model/mod.ts";
import { FINDINGS } from "../lib/nih/mod.ts";
import { parseScoreResponse } from "../lib/serve/mod.ts";
import { selfSignedCertificate } from "./_tls.ts";

const KEY = "cli-serve-key-7d41e0b2";
const NIH_PNG = readFileSync(join(NIH_SAMPLE, "images", "00000427_000.png"));

const work = tempDir("cxr-serve-cli-");
globalThis.addEventListener("unload", () => work[Symbol.dispose]());
const tfjsBundle = join(work.path, "tfjs");
const onnxBundle = join(work.path, "onnx");
await selectBackend("cpu");
for (const dir of [tfjsBundle, onnxBundle]) {
  const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 32 });
  await saveBundle(model, dir, { modelVersion: "cli-v1" });
  model.dispose();
}
await writeBundleOnnx(onnxBundle);

interface Served {
  url: string;
  firstLine: string;
  child: Deno.ChildProcess;
  /** Waits for the exit and returns the code and all of stderr. */
  finish(): Promise<{ code: number; stderr: string }>;
}

/** Starts `cxr serve` in an empty folder (no .env) and waits for its first stdout line. */
async function serve(args: string[], env: Record<string, string>): Promise<Served> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      join(REPO_ROOT, "deno.json"),
      join(REPO_ROOT, "lib/cli/main.ts"),
      "serve",
      ...args,
    ],
    cwd: work.path,
    env: { NO_COLOR: "1", CXR_SCORING_KEY: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) break;
    out += value;
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* nothing more is expected */ }
  })();
  const [firstLine = ""] = out.split("\n");
  const url = /^Listening on (https?:\/\/\S+)$/.exec(firstLine)?.[1] ?? JSON.parse(firstLine || "{}").url;
  return {
    url,
    firstLine,
    child,
    async finish() {
      const { code } = await child.status;
      await drain;
      return { code, stderr: await stderr };
    },
  };
}

Deno.test("serve refuses to start without a key unless --no-auth, and exits 1 when the model cannot load", async () => {
  const r = await runCxr(["serve", "--model", tfjsBundle], { cwd: work.path, env: { CXR_SCORING_KEY: "" } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /No scoring key: set CXR_SCORING_KEY .* or pass --no-auth/);
  const budget = await runCxr(
    ["serve", "--model", tfjsBundle, "--max-body-mb", "20", "--max-inflight-mb", "8"],
    { cwd: work.path, env: { CXR_SCORING_KEY: KEY } },
  );
  assert.equal(budget.code, 2, budget.stderr);
  assert.match(budget.stderr, /--max-inflight-mb must be at least --max-body-mb/);
  const missing = await runCxr([
    "serve",
    "--model",
    join(work.path, "nope"),
    "--port",
    "0",
    "--backend",
    "cpu",
  ], {
    cwd: work.path,
    env: { CXR_SCORING_KEY: KEY },
  });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: .*metadata\.json/m);
  assert.ok(!missing.stdout.includes("Listening on"));
  const help = await runCxr(["serve", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--max-body-mb N/);
});

Deno.test("serve: a real socket, a real NIH PNG, 401 without the key, logs without it, SIGTERM drains", async () => {
  const s = await serve(["--model", tfjsBundle, "--port", "0", "--engine", "tfjs", "--backend", "cpu"], {
    CXR_SCORING_KEY: KEY,
  });
  assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const auth = { authorization: `Bearer ${KEY}`, "content-type": "image/png" };
  const res = await fetch(`${s.url}/score`, { method: "POST", body: NIH_PNG, headers: auth });
  assert.equal(res.status, 200);
  const body = parseScoreResponse(await res.text(), 200, { classNames: FINDINGS });
  assert.equal(body.model.version, "cli-v1");
  const denied = await fetch(`${s.url}/score`, {
    method: "POST",
    body: NIH_PNG,
    headers: { "content-type": "image/png" },
  });
  assert.equal(denied.status, 401);
  assert.ok(!(await denied.text()).includes(KEY));
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
  const card = await fetch(`${s.url}/model`); // the model card: no key needed
  assert.equal(card.status, 200);
  assert.equal(await card.text(), readFileSync(join(tfjsBundle, "MODEL_CARD.md"), "utf8"));

  // A request in flight when SIGTERM arrives still gets its answer.
  let push!: ReadableStreamDefaultController<Uint8Array>;
  const body2 = new ReadableStream<Uint8Array>({ start: (c) => void (push = c) });
  const pending = fetch(`${s.url}/score`, { method: "POST", body: body2, headers: auth });
  push.enqueue(NIH_PNG.subarray(0, 1000));
  for (;;) {
    const m = await (await fetch(`${s.url}/metrics`, { headers: auth })).text();
    if (/^cxr_score_requests_open 1$/m.test(m)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  s.child.kill("SIGTERM");
  push.enqueue(NIH_PNG.subarray(1000));
  push.close();
  const late = await pending;
  assert.equal(late.status, 200);
  await late.body?.cancel();
  const { code, stderr } = await s.finish();
  assert.equal(code, 0);
  assert.match(stderr, /SIGTERM: draining \(readyz 503\); waiting for 1 scoring request\(s\) in flight/);
  assert.ok(!stderr.includes(KEY), "the key appears in stderr");
  const logs = stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  const scored = logs.filter((l) => l.route === "/score").map((l) => l.status);
  assert.deepEqual(scored, [200, 401, 200]);
  assert.ok(logs.every((l) => typeof l.id === "string" && typeof l.ms === "number"));
});

Deno.test("serve --json on the ONNX engine (auto picks model.onnx), --no-auth warns", async () => {
  const s = await serve(["--model", onnxBundle, "--port", "0", "--no-auth", "--json"], {});
  assert.deepEqual(JSON.parse(s.firstLine), {
    url: s.url,
    engine: "onnx",
    modelVersion: "cli-v1",
    auth: false,
    tls: false,
  });
  const res = await fetch(`${s.url}/score?heatmap=1&class=Nodule`, {
    method: "POST",
    body: NIH_PNG,
    headers: { "content-type": "image/png" },
  });
  const body = parseScoreResponse(await res.text(), res.status);
  assert.equal(body.heatmapClass, "Nodule");
  assert.ok(body.heatmap!.length > 1000);
  const ready = await (await fetch(`${s.url}/readyz`)).json();
  assert.equal(ready.engine, "onnx");
  s.child.kill("SIGINT");
  const { code, stderr } = await s.finish();
  assert.equal(code, 0);
  assert.match(stderr, /warning: --no-auth/);
});

Deno.test("serve --tls-cert/--tls-key: HTTPS only with a certificate made here; one flag alone or a wrong file is refused", async () => {
  const tls = await selfSignedCertificate();
  const cert = join(work.path, "tls.crt");
  const key = join(work.path, "tls.key");
  Deno.writeTextFileSync(cert, tls.cert);
  Deno.writeTextFileSync(key, tls.key);
  const env = { CXR_SCORING_KEY: KEY };
  const base = ["serve", "--model", tfjsBundle, "--port", "0", "--backend", "cpu"];
  const alone = await runCxr([...base, "--tls-cert", cert], { cwd: work.path, env });
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /--tls-cert and --tls-key go together/);
  const missing = await runCxr([...base, "--tls-cert", cert, "--tls-key", `${key}.nope`], {
    cwd: work.path,
    env,
  });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Cannot read --tls-key ".*tls\.key\.nope"/);
  const swapped = await runCxr([...base, "--tls-cert", key, "--tls-key", key], { cwd: work.path, env });
  assert.equal(swapped.code, 1);
  assert.match(swapped.stderr, /tls\.cert is not a PEM certificate/);
  assert.ok(!swapped.stderr.includes(tls.keyLine), "the private key appears in stderr");

  const s = await serve([
    ...["--model", tfjsBundle, "--port", "0", "--engine", "tfjs", "--backend", "cpu"],
    ...["--tls-cert", cert, "--tls-key", key, "--json"],
  ], env);
  const client = Deno.createHttpClient({ caCerts: [tls.cert] });
  try {
    assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(JSON.parse(s.firstLine).tls, true);
    const res = await fetch(`${s.url}/score`, {
      method: "POST",
      body: NIH_PNG,
      headers: { authorization: `Bearer ${KEY}`, "content-type": "image/png" },
      client,
    });
    assert.equal(res.status, 200);
    assert.equal(parseScoreResponse(await res.text(), 200).model.version, "cli-v1");
    assert.equal(res.headers.get("strict-transport-security"), "max-age=31536000");
    // Nothing answers plain HTTP on that port, and a client that does not trust the certificate stops.
    await assert.rejects(fetch(s.url.replace("https:", "http:") + "/healthz"), TypeError);
    await assert.rejects(fetch(`${s.url}/healthz`), TypeError);
  } finally {
    client.close();
    s.child.kill("SIGTERM");
  }
  const { code, stderr } = await s.finish();
  assert.equal(code, 0);
  assert.ok(!stderr.includes(KEY));
});
