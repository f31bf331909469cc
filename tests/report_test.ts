import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { codeCell, codeCells, freePort, outputText, writeNotebook } from "./_kernel.ts";
import { cellText, type Notebook, readNotebook, runNotebook } from "../lib/report/mod.ts";

const OUTPUTS_NB = join(REPO_ROOT, "tests/notebooks/outputs.ipynb");

/** What each code cell of tests/notebooks/outputs.ipynb must show: [output_type, stream or MIME, text]. */
const EXPECTED: [string, string, string][][] = [
  [], // parameters
  [["stream", "stdout", "print default 3"]],
  [["execute_result", "text/plain", "42"]],
  [["execute_result", "text/html", "<b>rich 42</b>"]],
  [["display_data", "text/markdown", "**shown**"], ["stream", "stdout", "after display"]],
  [["stream", "stdout", "before value"], ["execute_result", "text/plain", "answer"]],
  [["execute_result", "text/markdown", "## heading 3"]],
  [["stream", "stderr", "to stderr"], ["execute_result", "text/plain", "9"]],
];

/** Lists every expected output missing from an executed outputs.ipynb (empty when complete). */
function missingOutputs(nb: Notebook): string[] {
  const missing: string[] = [];
  codeCells(nb).forEach((cell, i) => {
    const outs = cell.outputs ?? [];
    const expected = EXPECTED[i] ?? [];
    if (outs.length !== expected.length) {
      missing.push(`code cell ${i + 1}: ${outs.length} outputs, expected ${expected.length}`);
    }
    for (const [type, where, text] of expected) {
      const found = outs.some((o) =>
        o.output_type === type &&
        (type === "stream" ? o.name === where && cellText(o.text as string[]).includes(text) : cellText(
          o.data?.[where] as string[] | undefined,
        ).includes(text))
      );
      if (!found) missing.push(`code cell ${i + 1}: no ${type} ${where} with "${text}"`);
    }
  });
  return missing;
}

Deno.test("report keeps every output of every cell across 20 runs (Deno's kernel reports idle early)", async () => {
  using dir = tempDir();
  const failures: string[] = [];
  for (let run = 1; run <= 20; run++) {
    const r = await runNotebook(OUTPUTS_NB, dir.path, { html: false, envFile: false });
    assert.equal(r.ok, true, `run ${run} failed: ${JSON.stringify(r.error)}`);
    const missing = missingOutputs(readNotebook(r.ipynb));
    if (missing.length) failures.push(`run ${run}: ${missing.join("; ")}`);
  }
  assert.deepEqual(failures, []);
});

Deno.test("report --param re-declares parameters after the parameters cell; --json summary; HTML written", async () => {
  using dir = tempDir();
  const r = await runCxr([
    "report",
    OUTPUTS_NB,
    "--out",
    dir.path,
    "--param",
    'label=say "hi" `${x}`',
    "--param",
    "count=5",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.notebooks.length, 1);
  const s = summary.notebooks[0];
  assert.deepEqual(Object.keys(s).sort(), ["cells", "html", "ipynb", "notebook", "ok", "seconds"]);
  assert.equal(s.ok, true);
  assert.equal(s.cells, 9);
  assert.match(r.stderr, /cell 9\/9 \d+\.\d\ds/);
  const nb = readNotebook(s.ipynb);
  const injected = nb.cells[2] ?? assert.fail("no injected cell");
  assert.deepEqual(injected.metadata.tags, ["injected-parameters"]);
  // `let` stays `let`, `const` stays `const`: the only re-declarations Deno's kernel accepts.
  assert.equal(cellText(injected.source), 'let label = "say \\"hi\\" `${x}`";\nconst count = 5;\n');
  assert.match(outputText(codeCells(nb)[2]?.outputs?.[0]), /print say "hi" `\$\{x\}` 5/);
  assert.match(outputText(codeCells(nb)[7]?.outputs?.[0]), /## heading 5/);
  const html = readFileSync(s.html, "utf8");
  assert.ok(html.includes("<b>rich 42</b>"), "rich HTML output in the report");
  assert.ok(/print say (&#34;|&quot;|")hi/.test(html), "stream output in the report");

  const bad = await runCxr(["report", OUTPUTS_NB, "--out", dir.path, "--param", "lable=x"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /has no parameter "lable"; valid: label, count/);
});

Deno.test("a failing cell exits 1 naming notebook, cell and error; the executed notebook is still written", async () => {
  using dir = tempDir();
  const nbPath = writeNotebook(join(dir.path, "fails.ipynb"), [
    codeCell('console.log("cwd=" + Deno.cwd());'),
    codeCell('throw new RangeError("boom 17");'),
    codeCell('console.log("never");'),
  ]);
  const r = await runCxr(["report", nbPath, "--out", join(dir.path, "out"), "--json"]);
  assert.equal(r.code, 1, r.stderr);
  const s = JSON.parse(r.stdout).notebooks[0];
  assert.equal(s.ok, false);
  assert.deepEqual(s.error, { cell: 2, codeCell: 2, ename: "RangeError", evalue: "boom 17" });
  assert.match(
    r.stderr,
    /error: Notebook ".*fails\.ipynb" failed in cell 2 \(code cell 2 of 3\): RangeError: boom 17/,
  );
  const nb = readNotebook(s.ipynb);
  // The kernel runs in the notebook's own folder.
  assert.equal(outputText(nb.cells[0]?.outputs?.[0]).trim(), `cwd=${dir.path}`);
  assert.equal(nb.cells[1]?.outputs?.[0]?.output_type, "error");
  assert.deepEqual(nb.cells[2]?.outputs, []);
  assert.ok(existsSync(s.html), "the HTML report of a failed run is written too");
});

Deno.test("report --timeout fails a cell that runs too long", async () => {
  using dir = tempDir();
  const nbPath = writeNotebook(join(dir.path, "slow.ipynb"), [
    codeCell("1 + 1"),
    codeCell("await new Promise((r) => setTimeout(r, 60_000));"),
  ]);
  const r = await runCxr(["report", nbPath, "--out", join(dir.path, "out"), "--timeout", "2", "--json"]);
  assert.equal(r.code, 1, r.stderr);
  const s = JSON.parse(r.stdout).notebooks[0];
  assert.equal(s.error.ename, "CellTimeoutError");
  assert.equal(s.error.cell, 2);
});

Deno.test("secrets printed by a notebook come out as *** in the .ipynb and the HTML", async () => {
  using dir = tempDir();
  const secret = "scoring-key-Zq81-do-not-leak";
  const config = pathToFileURL(join(REPO_ROOT, "lib/config.ts")).href;
  const nbPath = writeNotebook(join(dir.path, "leak.ipynb"), [
    codeCell(`import { loadSettings } from "${config}";\nconst settings = loadSettings({ envFile: false });`),
    codeCell("console.log(settings.scoringKey!.reveal());"),
    codeCell("Deno.jupyter.html`<p>key: ${settings.scoringKey!.reveal()}</p>`"),
    codeCell("({ raw: settings.scoringKey!.reveal(), env: Deno.env.get('CXR_SCORING_KEY') })"),
    // An SVG output reaches the HTML URL-encoded inside an <img>, out of reach of the HTML's own scrub.
    codeCell(
      '({ [Symbol.for("Jupyter.display")]: () => ({ "image/svg+xml": `<svg xmlns="http://www.w3.org/2000/svg">' +
        "<text>${settings.scoringKey!.reveal()}</text></svg>` }) })",
    ),
  ]);
  const r = await runCxr(["report", nbPath, "--out", join(dir.path, "out"), "--json"], {
    env: { CXR_SCORING_KEY: secret },
  });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout).notebooks[0];
  const ipynb = readFileSync(s.ipynb, "utf8");
  const html = readFileSync(s.html, "utf8");
  for (const [name, text] of Object.entries({ ipynb, html, stdout: r.stdout, stderr: r.stderr })) {
    assert.ok(!text.includes(secret), `secret in ${name}`);
  }
  const nb = readNotebook(s.ipynb);
  assert.equal(outputText(nb.cells[1]?.outputs?.[0]).trim(), "***");
  assert.match(outputText(nb.cells[2]?.outputs?.[0]), /key: \*\*\*/);
  assert.ok(html.includes("key: ***"), "redacted value in the report");
  assert.ok(html.includes("%3Ctext%3E%2A%2A%2A%3C/text%3E"), "redacted value in the SVG image");
});

Deno.test("jupyter serves with a token only, prints the URL once, keeps the token out of its log", async () => {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(REPO_ROOT, "lib/cli/main.ts"),
      "jupyter",
      "--port",
      String(port),
      "--no-browser",
      "--json",
    ],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    first += value;
  }
  try {
    const info = JSON.parse(first);
    const url = new URL(info.url);
    const token = url.searchParams.get("token")!;
    assert.equal(url.hostname, "127.0.0.1");
    assert.equal(url.port, String(port));
    assert.match(token, /^[0-9a-f]{48}$/);
    const base = `http://127.0.0.1:${port}`;
    const anon = await fetch(`${base}/api/kernels`);
    await anon.body?.cancel();
    assert.ok(anon.status === 403 || anon.status === 401, `no token: ${anon.status}`);
    const wrong = await fetch(`${base}/api/kernels`, { headers: { Authorization: "token wrong" } });
    await wrong.body?.cancel();
    assert.ok(wrong.status === 403 || wrong.status === 401, `wrong token: ${wrong.status}`);
    const ok = await fetch(`${base}/api/kernelspecs`, { headers: { Authorization: `token ${token}` } });
    assert.equal(ok.status, 200);
    const specs = await ok.json();
    assert.ok("deno" in specs.kernelspecs, "Deno's kernel is registered");
    child.kill("SIGTERM");
    let rest = first.slice(first.indexOf("\n") + 1);
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
    assert.equal((await child.status).code, 0);
    const log = await stderr;
    assert.ok(!log.includes(token), "token in the server log");
    assert.ok(log.length > 0, "the server's log is passed on");
    assert.ok(!rest.includes(token), "token printed more than once");
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await reader.cancel().catch(() => {});
  }
});

Deno.test("install_kernel.sh registers Deno's kernel once, and again when its deno binary is gone", async () => {
  using home = tempDir();
  // A fresh HOME, so the user's own kernelspecs are neither seen nor touched.
  const env = {
    ...Deno.env.toObject(),
    HOME: home.path,
    PATH: `${dirname(Deno.execPath())}:${Deno.env.get("PATH")}`,
  };
  for (const k of ["XDG_DATA_HOME", "JUPYTER_DATA_DIR", "JUPYTER_PATH"]) {
    delete (env as Record<string, string>)[k];
  }
  const run = async () => {
    const out = await new Deno.Command("bash", {
      args: [join(REPO_ROOT, "scripts/install_kernel.sh")],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, log: new TextDecoder().decode(out.stderr) };
  };
  const spec = join(home.path, ".local/share/jupyter/kernels/deno/kernel.json");
  const first = await run();
  assert.equal(first.code, 0, first.log);
  assert.match(first.log, /registering the Deno Jupyter kernel/);
  assert.equal(JSON.parse(readFileSync(spec, "utf8")).argv[1], "jupyter");
  const second = await run();
  assert.equal(second.code, 0, second.log);
  assert.match(second.log, /already registered/);
  const stale = JSON.parse(readFileSync(spec, "utf8"));
  stale.argv[0] = join(home.path, "gone/deno");
  writeFileSync(spec, JSON.stringify(stale));
  const third = await run();
  assert.equal(third.code, 0, third.log);
  assert.match(third.log, /points at a missing deno.*re-registering/);
  assert.notEqual(JSON.parse(readFileSync(spec, "utf8")).argv[0], stale.argv[0]);
});
