import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError, defaultWeightsCacheDir, loadSettings, parseDotenv, settingsRows } from "./config.ts";
import { redactSecrets, Secret } from "./secrets.ts";
import { tempDir } from "../tests/_fixtures.ts";

const KEY = "Zm9vYmFyYmF6cXV4c2VjcmV0a2V5MTIzNDU2Nzg5MA==";
const fromEnv = (env: Record<string, string>) => loadSettings({ env, envFile: false });

Deno.test("settings default to the embedded Azurite with valid container names", () => {
  const s = fromEnv({});
  assert.equal(s.storage.mode, "azurite");
  assert.deepEqual(s.storage.containers, {
    archives: "nih-archives",
    images: "nih-images",
    metadata: "nih-metadata",
    models: "models",
  });
  assert.equal(s.jupyterPort, 10002);
  assert.equal(s.backend, "auto");
});

Deno.test("an account key makes the mode azure and never prints", () => {
  const s = fromEnv({ AZURE_STORAGE_ACCOUNT: "cxrdata", AZURE_STORAGE_KEY: KEY });
  assert.equal(s.storage.mode, "azure");
  assert.equal(s.storage.accountKey?.reveal(), KEY);
  const printed = [
    JSON.stringify(s),
    Deno.inspect(s, { depth: 10 }),
    String(s.storage.accountKey),
    settingsRows(s).map((r) => r.join("=")).join("\n"),
  ];
  for (const text of printed) assert.ok(!text.includes(KEY), `key leaked in: ${text.slice(0, 80)}`);
  assert.equal(redactSecrets(`auth failed for key ${KEY}`), "auth failed for key ***");
});

Deno.test("connection string parts are redacted from messages", () => {
  const cs =
    `DefaultEndpointsProtocol=https;AccountName=cxrdata;AccountKey=${KEY};EndpointSuffix=core.windows.net`;
  const s = fromEnv({ AZURE_STORAGE_CONNECTION_STRING: cs });
  assert.equal(s.storage.mode, "azure");
  assert.ok(!redactSecrets(`bad: ${cs}`).includes(KEY));
  // The key alone, as a client library might echo it, is scrubbed too.
  assert.equal(redactSecrets(`key=${KEY}`), "key=***");
});

Deno.test("malformed settings name the variable", () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ CXR_JUPYTER_PORT: "abc" }, "CXR_JUPYTER_PORT", /not a port number/],
    [{ CXR_JUPYTER_PORT: "70000" }, "CXR_JUPYTER_PORT", /1-65535/],
    [{ CXR_BACKEND: "cuda" }, "CXR_BACKEND", /one of: auto, tensorflow, webgpu, wasm, cpu/],
    [{ CXR_CONTAINER_IMAGES: "Bad_Name" }, "CXR_CONTAINER_IMAGES", /not a valid container name/],
    [{ AZURE_STORAGE_ACCOUNT: "Has-Caps" }, "AZURE_STORAGE_ACCOUNT", /3-24 lowercase/],
    [{ AZURE_STORAGE_KEY: KEY }, "AZURE_STORAGE_ACCOUNT", /required when AZURE_STORAGE_KEY/],
    [{ AZURE_STORAGE_ACCOUNT: "abc", AZURE_STORAGE_KEY: "not base64 !!" }, "AZURE_STORAGE_KEY", /not base64/],
    [
      { AZURE_STORAGE_CONNECTION_STRING: "garbage-garbage" },
      "AZURE_STORAGE_CONNECTION_STRING",
      /AccountName=/,
    ],
    [{ CXR_STORAGE: "azure" }, "AZURE_STORAGE_ACCOUNT", /needs AZURE_STORAGE_CONNECTION_STRING/],
    [{ CXR_STORAGE: "s3" }, "CXR_STORAGE", /one of: azurite, azure/],
    [
      { AZURE_STORAGE_ACCOUNT: "abc", AZURE_STORAGE_SAS_TOKEN: "sv=2020&sp=r" },
      "AZURE_STORAGE_SAS_TOKEN",
      /sig=/,
    ],
    [{ CXR_NIH_BASE_URL: "ftp://x" }, "CXR_NIH_BASE_URL", /http\(s\) URL/],
    [{ CXR_WEIGHTS_BASE_URL: "ftp://mirror/keras/" }, "CXR_WEIGHTS_BASE_URL", /http\(s\) URL/],
    [{ CXR_WEIGHTS_BASE_URL: "mirror/keras" }, "CXR_WEIGHTS_BASE_URL", /http\(s\) URL/],
    [{ CXR_SCORING_KEY: "short" }, "CXR_SCORING_KEY", /too short/],
  ];
  for (const [env, variable, message] of cases) {
    assert.throws(
      () => fromEnv(env),
      (e: unknown) => e instanceof ConfigError && e.variable === variable && message.test(e.message),
      `expected ConfigError for ${variable} from ${JSON.stringify(Object.keys(env))}`,
    );
  }
});

Deno.test("a wrong key's message does not contain the key", () => {
  const bad = "sk_" + "x".repeat(40) + " !";
  assert.throws(
    () => fromEnv({ AZURE_STORAGE_ACCOUNT: "abc", AZURE_STORAGE_KEY: bad }),
    (e: unknown) => !(e as Error).message.includes(bad),
  );
});

Deno.test(".env is read under the environment, which wins", () => {
  using dir = tempDir();
  const file = join(dir.path, ".env");
  writeFileSync(
    file,
    `# settings\nCXR_JUPYTER_PORT=9100\nexport CXR_BACKEND="wasm"\nCXR_CONTAINER_MODELS=m-one\n`,
  );
  const s = loadSettings({ env: { CXR_CONTAINER_MODELS: "m-two" }, envFile: file });
  assert.equal(s.jupyterPort, 9100);
  assert.equal(s.backend, "wasm");
  assert.equal(s.storage.containers.models, "m-two");
  assert.equal(s.envFile, file);
});

Deno.test("a .env line that is not KEY=value is an error with file and line", () => {
  assert.throws(() => parseDotenv("A=1\nthis is wrong\n", "/x/.env"), /"\/x\/\.env" at line 2/);
});

Deno.test("a named .env file that is missing is an error", () => {
  assert.throws(() => loadSettings({ env: {}, envFile: "/nonexistent/.env" }), /does not exist/);
});

Deno.test("Secret shows *** in Jupyter's display bundle", () => {
  const s = new Secret("abcdefghijk");
  assert.deepEqual((s as unknown as Record<symbol, () => unknown>)[Symbol.for("Jupyter.display")]?.(), {
    "text/plain": "***",
  });
});

Deno.test("pretrained weights: base URL unset by default, cache in the user's cache folder", () => {
  const s = fromEnv({ HOME: "/home/ada" });
  assert.equal(s.weightsBaseUrl, undefined);
  assert.equal(s.weightsCacheDir, "/home/ada/.cache/cxr/weights");
  assert.equal(s.weightsCacheDir, defaultWeightsCacheDir({ HOME: "/home/ada" }));
  const xdg = fromEnv({ HOME: "/home/ada", XDG_CACHE_HOME: "/var/cache/ada" });
  assert.equal(xdg.weightsCacheDir, "/var/cache/ada/cxr/weights");
  const set = fromEnv({
    CXR_WEIGHTS_CACHE: "weights-here",
    CXR_WEIGHTS_BASE_URL: "https://mirror.example/keras/",
  });
  assert.equal(set.weightsCacheDir, resolve("weights-here"));
  assert.equal(set.weightsBaseUrl, "https://mirror.example/keras/");
  assert.deepEqual(settingsRows(set).find(([k]) => k === "weightsBaseUrl"), [
    "weightsBaseUrl",
    "https://mirror.example/keras/",
  ]);
});

Deno.test("pretrained weights: a SAS in CXR_WEIGHTS_BASE_URL is shown as ?*** and scrubbed from text", () => {
  const sig = "d2VpZ2h0cy1zYXMtc2lnbmF0dXJl%3D";
  const url = `https://cxrdata.blob.core.windows.net/weights?sv=2024-08-04&sp=r&sig=${sig}`;
  const s = fromEnv({ CXR_WEIGHTS_BASE_URL: url });
  assert.equal(s.weightsBaseUrl, url);
  const rows = settingsRows(s).map((r) => r.join("=")).join("\n");
  assert.ok(rows.includes("weightsBaseUrl=https://cxrdata.blob.core.windows.net/weights?***"));
  assert.ok(!rows.includes(sig) && !rows.includes("sv="));
  for (const text of [JSON.stringify(s), Deno.inspect(s, { depth: 10 })]) {
    assert.ok(!text.includes(sig) && text.includes("weights?***"), text);
  }
  assert.equal(JSON.parse(JSON.stringify(s)).weightsCacheDir, s.weightsCacheDir);
  assert.ok(!redactSecrets(`GET ${url} failed`).includes(sig));
  assert.throws(
    () => fromEnv({ CXR_WEIGHTS_BASE_URL: `ftp://x/w?sig=${sig}` }),
    (e: unknown) => e instanceof ConfigError && !e.message.includes(sig),
  );
});

Deno.test("CXR_SCORING_KEY: surrounding whitespace (a key file's newline) is removed; inner whitespace is refused", () => {
  const key = "scoring-key-0123456789";
  for (const raw of [`${key}\n`, `${key}\r\n`, `  ${key}\t`, `\n${key}\n\n`]) {
    assert.equal(fromEnv({ CXR_SCORING_KEY: raw }).scoringKey?.reveal(), key);
  }
  // A .env with the newline escaped in double quotes reads the same.
  using dir = tempDir();
  const file = join(dir.path, ".env");
  writeFileSync(file, `CXR_SCORING_KEY="${key}\\n"\n`);
  assert.equal(loadSettings({ env: {}, envFile: file }).scoringKey?.reveal(), key);
  // What trimming cannot fix is refused at start-up, without the value.
  for (const raw of ["scoring key 0123456789", "scoring-key\n0123456789", "scoring-kéy-0123456789", " \n "]) {
    assert.throws(
      () => fromEnv({ CXR_SCORING_KEY: raw }),
      (e: unknown) =>
        e instanceof ConfigError && e.variable === "CXR_SCORING_KEY" &&
        /printable ASCII|blank/.test(e.message) && !e.message.includes("0123456789"),
      JSON.stringify(raw),
    );
  }
  // Other secrets read from files lose their newline too.
  const s = fromEnv({ AZURE_STORAGE_ACCOUNT: "abc", AZURE_STORAGE_KEY: `${KEY}\n` });
  assert.equal(s.storage.accountKey?.reveal(), KEY);
});

Deno.test("CXR_SCORING_KEY from a key file: the service accepts the key clients send", async () => {
  const { createScoringHandler } = await import("./serve/handler.ts");
  const { tinyPredictor } = await import("./serve/_testing.ts");
  const key = "scoring-key-0123456789";
  // `kubectl create secret generic --from-file=CXR_SCORING_KEY=key.txt` puts the file's final newline in the value.
  const { scoringKey } = fromEnv({ CXR_SCORING_KEY: `${key}\n` });
  assert.ok(scoringKey);
  using dir = tempDir();
  const predictor = await tinyPredictor(join(dir.path, "bundle"));
  try {
    const handler = createScoringHandler(predictor, { key: scoringKey, log: () => {} });
    const metrics = (authorization: string) =>
      handler(new Request("http://x/metrics", { headers: { authorization } }));
    const ok = await metrics(`Bearer ${key}`);
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    const wrong = await metrics("Bearer another-key-0123456789");
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
  } finally {
    await predictor.dispose();
  }
});
