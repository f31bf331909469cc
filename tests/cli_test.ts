import assert from "node:assert/strict";
import { runCxr } from "./_fixtures.ts";
import { COMMANDS } from "../lib/cli/commands.ts";

Deno.test("cxr --help lists every command", async () => {
  const r = await runCxr(["--help"]);
  assert.equal(r.code, 0);
  for (const c of COMMANDS) assert.ok(r.stdout.includes(c.name), `missing ${c.name}`);
});

Deno.test("every command answers --help with exit 0 and its options", async () => {
  for (const c of COMMANDS) {
    const r = await runCxr([...c.name.split(" "), "--help"]);
    assert.equal(r.code, 0, `${c.name} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`Usage: deno task cxr ${c.name}`));
    for (const o of Object.keys(c.options)) {
      assert.ok(r.stdout.includes(`--${o}`), `${c.name} --help lacks --${o}`);
    }
  }
});

Deno.test("an unknown command or option exits 2 with the valid choices", async () => {
  const r = await runCxr(["frobnicate"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"\. Valid commands: /);
  const r2 = await runCxr(["settings", "--nope"]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /--nope/);
  assert.match(r2.stderr, /deno task cxr settings --help/);
});

Deno.test("settings --json redacts secrets; a bad setting exits 1 naming the variable, no stack", async () => {
  const key = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NQ==";
  const r = await runCxr(["settings", "--json"], {
    env: {
      AZURE_STORAGE_ACCOUNT: "cxrtest",
      AZURE_STORAGE_KEY: key,
      CXR_SCORING_KEY: "scoring-key-0123456789",
    },
  });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.storage.accountKey, "***");
  assert.equal(s.scoringKey, "***");
  assert.ok(!r.stdout.includes(key) && !r.stdout.includes("scoring-key-0123456789"));

  const bad = await runCxr(["settings"], { env: { CXR_JUPYTER_PORT: "nope" } });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: ConfigError: CXR_JUPYTER_PORT="nope" is not a port number/);
  assert.ok(!bad.stderr.includes("    at "), "no stack trace for the user");
});
