import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { codeCells } from "./_kernel.ts";
import { cellText, type Notebook, readNotebook } from "../lib/report/mod.ts";

// Notebook 00 executed the way `deno task report` runs it, with secrets in its environment that must not leak.

const NOTEBOOK_00 = join(REPO_ROOT, "notebooks/00_setup_vm.ipynb");
const SCORING_KEY = "scoring-key-notebook00-0123456789";
const STORAGE_KEY = "bm90ZWJvb2swMC1zdG9yYWdlLWtleS1zZWNyZXQ=";

function outputsOf(nb: Notebook, mime: string): string[] {
  return codeCells(nb).flatMap((c) => c.outputs ?? []).filter((o) => o.data?.[mime] !== undefined)
    .map((o) => cellText(o.data![mime] as string | string[]));
}

Deno.test("notebook 00 shows the doctor table, the fixes, the storage set-up and redacted settings", async () => {
  using dir = tempDir();
  const envFile = join(dir.path, ".env");
  const r = await runCxr([
    "report",
    NOTEBOOK_00,
    "--out",
    join(dir.path, "reports"),
    "--json",
    ...["--param", `envFile=${envFile}`, "--param", "applySetup=true", "--param", "timeoutSeconds=60"],
  ], {
    cwd: dir.path,
    env: {
      // No az on this PATH: the set-up configures Azurite.
      PATH: [dirname(Deno.execPath()), "/usr/bin", "/bin"].join(":"),
      CXR_SCORING_KEY: SCORING_KEY,
      AZURE_STORAGE_ACCOUNT: "cxrnotebook00",
      AZURE_STORAGE_KEY: STORAGE_KEY,
    },
  });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout).notebooks[0];
  assert.equal(s.ok, true);
  s.ipynb = resolve(dir.path, s.ipynb); // the report names its files relative to where it ran
  s.html = resolve(dir.path, s.html);
  const nb = readNotebook(s.ipynb);
  assert.ok(codeCells(nb).every((c) => !(c.outputs ?? []).some((o) => o.output_type === "error")));
  const html = outputsOf(nb, "text/html");
  const doctor = html.find((t) => t.includes("GPU and NVIDIA driver"));
  assert.ok(doctor, "doctor table");
  assert.match(doctor, /<caption>doctor: \d+ ok, \d+ warn, \d+ fail<\/caption>/);
  assert.equal(doctor.match(/<tr><td style="color:/g)?.length, 13);
  assert.ok(doctor.includes("ONNX Runtime cuda provider"), "the train --gpus row");
  assert.match(
    doctor,
    /<details><summary>more<\/summary><table><thead><tr><th>backend<\/th><th>usable<\/th>/,
  );
  const advice = outputsOf(nb, "text/markdown").find((t) => t.includes("**Azure CLI and login** (warn)"));
  assert.ok(advice, "fixes for the checks that are not ok");
  assert.ok(
    outputsOf(nb, "text/markdown").some((t) => t.includes("storage: azurite") && t.includes("az vm create")),
    "storage set-up with the az commands",
  );
  const settings = html.find((t) => t.includes("<code>scoringKey</code>"));
  assert.ok(settings, "settings table");
  assert.match(settings, /<code>scoringKey<\/code><\/td><td>\*\*\*<\/td>/);
  assert.match(settings, /<code>storage\.accountKey<\/code><\/td><td>\*\*\*<\/td>/);
  assert.match(readFileSync(envFile, "utf8"), /^CXR_STORAGE=azurite$/m);
  assert.equal(statSync(envFile).mode & 0o777, 0o600);
  for (const file of [s.ipynb, s.html]) {
    const text = readFileSync(file, "utf8");
    assert.ok(!text.includes(SCORING_KEY) && !text.includes(STORAGE_KEY), `a secret leaked into ${file}`);
    assert.ok(text.includes("GPU and NVIDIA driver"), `${file} lacks the doctor table`);
  }
});
