/** `deno fmt`, `deno lint` and `deno check` stay clean: the same checks as `deno task check`, counted as tests. */
import assert from "node:assert/strict";
import { REPO_ROOT } from "./_fixtures.ts";

async function deno(args: string[]): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, output: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("deno fmt --check is clean", async () => {
  const r = await deno(["fmt", "--check"]);
  assert.equal(r.code, 0, r.output.split("\n").filter((l) => l.startsWith("from ")).join("\n"));
});

Deno.test("deno lint is clean", async () => {
  const r = await deno(["lint"]);
  assert.equal(r.code, 0, r.output.slice(-3000));
});

Deno.test("deno check passes on lib, tests and bench", async () => {
  const r = await deno(["check", "lib/", "tests/", "bench/"]);
  assert.equal(r.code, 0, r.output.slice(-3000));
});
