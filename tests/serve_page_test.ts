/**
 * The upload page at `GET /` in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * a wrong key shows the service's error, the right key and a real NIH PNG show 14 bars and the heatmap
 * over the X-ray. A screenshot goes to a temporary folder (or to `$CXR_PAGE_SCREENSHOT` to look at it).
 */
import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { NIH_SAMPLE, tempDir } from "./_fixtures.ts";
import { createDenseNet, saveBundle, selectBackend } from "../lib/model/mod.ts";
import { startScoringServer } from "../lib/serve/mod.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const KEY = "page-test-key-90b3c1a7";
const XRAY = join(NIH_SAMPLE, "images", "00001369_000.png");

Deno.test({
  name: "upload page: wrong key shows the error; a real NIH PNG shows 14 bars and the heatmap",
  // playwright-core keeps internal timers and pipes of its own between calls
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using dir = tempDir("cxr-serve-page-");
    await selectBackend("cpu");
    const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 32 });
    await saveBundle(model, join(dir.path, "bundle"), { modelVersion: "page-v1" });
    model.dispose();
    const server = await startScoringServer({
      model: join(dir.path, "bundle"),
      engine: "tfjs",
      port: 0,
      key: KEY,
      log: () => {},
    });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    try {
      await server.ready;
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      await page.goto(`${server.url}/`);
      assert.equal(await page.title(), "Chest X-ray scoring");
      await page.setInputFiles("#file", XRAY);
      await page.fill("#key", "not-the-key");
      await page.click("#submit");
      await page.waitForSelector("#status.error");
      assert.match((await page.textContent("#status"))!, /^Error 401: The key is wrong$/);

      await page.fill("#key", KEY);
      await page.click("#submit");
      // Browser-side code as strings: this project type-checks without the DOM library.
      await page.waitForFunction(
        `(() => { const img = document.getElementById("heatmap");
          return !img.hidden && img.complete && img.naturalWidth > 0; })()`,
      );
      const bars = await page.evaluate(
        `[...document.querySelectorAll(".bar")].map((r) =>
          [r.dataset.finding, Number.parseFloat(r.querySelector(".fill").style.width)])`,
      ) as [string, number][];
      assert.equal(bars.length, 14);
      assert.equal(bars[0][0], "Atelectasis");
      assert.ok(bars.every(([, w]) => typeof w === "number" && w >= 0 && w <= 100));
      assert.equal(await page.locator(".bar.top").count(), 1);
      const size = await page.evaluate(
        `[document.getElementById("heatmap").naturalWidth, document.getElementById("heatmap").naturalHeight]`,
      );
      assert.deepEqual(size, [512, 512]); // the 1024x1024 X-ray, downscaled to at most 512
      assert.match((await page.textContent("#status"))!, /^Top finding: .+ \(\d+\.\d%\)$/);
      assert.match((await page.textContent("#model"))!, /page-v1; heatmap for /);

      const shot = join(dir.path, "page.png");
      await page.screenshot({ path: shot, fullPage: true });
      assert.deepEqual([...readFileSync(shot).subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
      const keep = Deno.env.get("CXR_PAGE_SCREENSHOT");
      if (keep) copyFileSync(shot, keep);
    } finally {
      await browser.close();
      await server.close();
    }
  },
});
