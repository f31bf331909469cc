/**
 * The upload page at `GET /` in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core),
 * served over HTTPS (a self-signed certificate made in the test) under its Content-Security-Policy: a wrong
 * key shows the service's error, the right key and a real NIH PNG show 14 bars and the heatmap over the
 * X-ray, and the browser reports no CSP violation while it does; a script injected into the page is refused
 * and the page refuses to be framed. A screenshot goes to a temporary folder (or to `$CXR_PAGE_SCREENSHOT`).
 */
import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS as ARGS, NIH_SAMPLE, tempDir } from "./_fixtures.ts";
import { createDenseNet, saveBundle, selectBackend } from "../lib/model/mod.ts";
import { SCORING_PAGE_CSP, startScoringServer } from "../lib/serve/mod.ts";
import { selfSignedCertificate } from "./_tls.ts";

const KEY = "page-test-key-90b3c1a7";
const XRAY = join(NIH_SAMPLE, "images", "00001369_000.png");

/**
 * Polls an expression until it is true. Not `page.waitForFunction`: that evaluates its string inside the
 * page, which the page's CSP (no 'unsafe-eval') rightly refuses; `page.evaluate` runs outside it.
 */
async function waitFor(page: Page, expression: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`waitFor: still false after ${timeoutMs} ms: ${expression}`);
    await page.waitForTimeout(25);
  }
}

Deno.test({
  name:
    "upload page over HTTPS under its CSP: wrong key shows the error; a real NIH PNG shows 14 bars and the heatmap; no violation, injected script and framing refused",
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
      tls: await selfSignedCertificate(),
    });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS] });
    try {
      await server.ready;
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, ignoreHTTPSErrors: true });
      const violations: string[] = [];
      page.on("console", (m) => {
        if (/Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text());
      });
      const loaded = await page.goto(`${server.url}/`);
      const headers = loaded!.headers();
      assert.equal(headers["content-security-policy"], SCORING_PAGE_CSP);
      assert.match(headers["content-security-policy"], /script-src 'sha256-[^']+'; /);
      assert.match(headers["content-security-policy"], /frame-ancestors 'none'/);
      assert.equal(headers["x-content-type-options"], "nosniff");
      assert.equal(headers["referrer-policy"], "no-referrer");
      assert.equal(headers["strict-transport-security"], "max-age=31536000");
      assert.equal(await page.title(), "Chest X-ray scoring");
      await page.setInputFiles("#file", XRAY);
      await page.fill("#key", "not-the-key");
      await page.click("#submit");
      await page.waitForSelector("#status.error");
      assert.match((await page.textContent("#status"))!, /^Error 401: The key is wrong$/);

      await page.fill("#key", KEY);
      await page.click("#submit");
      // Browser-side code as strings: this project type-checks without the DOM library.
      await waitFor(
        page,
        `(() => { const img = document.getElementById("heatmap");
          return !img.hidden && img.complete && img.naturalWidth > 0; })()`,
      );
      const bars = await page.evaluate(
        `[...document.querySelectorAll(".bar")].map((r) =>
          [r.dataset.finding, Number.parseFloat(r.querySelector(".fill").style.width)])`,
      ) as [string, number][];
      assert.equal(bars.length, 14);
      assert.equal(bars[0]?.[0], "Atelectasis");
      assert.ok(bars.every(([, w]) => typeof w === "number" && w >= 0 && w <= 100));
      assert.equal(await page.locator(".bar.top").count(), 1);
      const size = await page.evaluate(
        `[document.getElementById("heatmap").naturalWidth, document.getElementById("heatmap").naturalHeight]`,
      );
      assert.deepEqual(size, [512, 512]); // the 1024x1024 X-ray, downscaled to at most 512
      assert.match((await page.textContent("#status"))!, /^Top finding: .+ \(\d+\.\d%\)$/);
      assert.match((await page.textContent("#model"))!, /page-v1; heatmap for /);

      assert.deepEqual(violations, [], "the page broke its own Content-Security-Policy");

      // The policy is in force: a script injected into the page does not run ...
      const ran = await page.evaluate(`(() => { const s = document.createElement("script");
        s.textContent = "window.injected = 1"; document.body.append(s); return window.injected === 1; })()`);
      assert.equal(ran, false);
      for (let i = 0; i < 50 && violations.length === 0; i++) await page.waitForTimeout(20);
      assert.match(
        violations.join("\n"),
        /(Executing|Refused to execute) inline script .*The action has been blocked|Refused to execute inline script/,
      );
      // ... and no page may frame it (clickjacking).
      const framing = await browser.newPage({ ignoreHTTPSErrors: true });
      const framed: string[] = [];
      framing.on("console", (m) => framed.push(m.text()));
      await framing.setContent(`<iframe src="${server.url}/"></iframe>`);
      for (let i = 0; i < 100 && !framed.some((t) => /frame-ancestors/.test(t)); i++) {
        await framing.waitForTimeout(20);
      }
      assert.match(framed.join("\n"), /fram.*frame-ancestors 'none'/i);
      assert.ok(!framing.frames().some((f) => f !== framing.mainFrame() && /Chest X-ray/.test(f.url())));

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
