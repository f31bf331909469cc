import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadSettings } from "../lib/config.ts";
import { runDemo } from "../lib/demo/demo.ts";
import { REPO_ROOT, tempDir } from "./_fixtures.ts";

Deno.test("demo: synthetic data, split, Azurite round trip and notebook 01 report, then a re-run reuses all", async () => {
  using dir = tempDir();
  const settings = loadSettings({ env: { CXR_WORK_DIR: join(dir.path, "work") }, envFile: false });
  const options = {
    images: 30,
    size: 64,
    settings,
    progress: false,
    log: () => {},
    notebooks: [join(REPO_ROOT, "notebooks/01_fetch_data.ipynb")],
    reportsDir: join(dir.path, "reports"),
  };
  const first = await runDemo(options);
  assert.equal(first.data.images, 30);
  const splitTotal = Object.values(first.split.images).reduce((a, b) => a + b, 0);
  assert.equal(splitTotal, 30);
  assert.equal(first.storage.upload.failed, 0);
  assert.equal(first.storage.upload.files, 34); // 30 images and 4 label files
  assert.equal(first.storage.download.files, 34);
  assert.ok(existsSync(join(first.storage.trainingCopy, "images", "00000001_000.png")));
  assert.equal(first.reports.length, 1);
  const [report] = first.reports;
  assert.ok(report?.ok && report.html);
  const html = readFileSync(report.html, "utf8");
  assert.match(html, /Pleural_Thickening/);

  const second = await runDemo(options);
  assert.equal(second.storage.upload.files, 0);
  assert.equal(second.storage.upload.skipped, 34);
  assert.equal(second.split.digest, first.split.digest);
});
