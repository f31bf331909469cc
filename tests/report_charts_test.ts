/**
 * Charts in the HTML reports, as a reader sees them: each report is opened in headless Chromium (Debian's
 * /usr/bin/chromium driven by playwright-core) with every network request blocked, and every chart output
 * (`image/svg+xml`, `image/png`, Vega-Lite, and SVGs and images inside HTML outputs) must show visible
 * pixels, not just be a tag in the file. Displays updated in place must show their final state.
 *
 * Set `CXR_CHART_SCREENSHOTS` to a folder to keep a screenshot of every chart checked.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Browser, chromium } from "playwright-core";
import sharp from "sharp";
import { CHROMIUM, CHROMIUM_ARGS as ARGS, REPO_ROOT, tempDir } from "./_fixtures.ts";
import { codeCell, writeNotebook } from "./_kernel.ts";
import { cellText, type Notebook, readNotebook, runNotebook } from "../lib/report/mod.ts";

const VEGA_LITE = /^application\/vnd\.vegalite\.v\d+\+json$/;
/** nbconvert's HTML display priority (HTMLExporter.display_data_priority), the MIME types it can show. */
const NBCONVERT_PRIORITY = [
  "application/vnd.jupyter.widget-view+json",
  "application/javascript",
  "text/html",
  "text/markdown",
  "image/svg+xml",
  "text/latex",
  "image/png",
  "image/jpeg",
  "text/plain",
];
/** Least share of a chart's pixels that must differ from the white page. */
const MIN_INK = 0.005;

/** One chart as the browser drew it. */
interface DrawnChart {
  /** `image/svg+xml`, `image/png`, `image/jpeg` (an output of that type), or `html svg` / `html img`. */
  kind: string;
  /** The image's alt text (our SVG outputs: their text/plain), or the SVG's title, for messages. */
  label: string;
  /** Size drawn, CSS pixels. */
  width: number;
  height: number;
  /** An <img> that failed to decode (naturalWidth 0). */
  broken: boolean;
  /** Share of pixels that are not (near) white. */
  ink: number;
  /** Mean colour of those pixels. */
  inkColor: [number, number, number];
}

/**
 * The chart outputs of an executed notebook that nbconvert shows as an image, in order, and the problems of
 * those it cannot show: a Vega-Lite output is drawn by JavaScript from a CDN, so it needs an SVG or PNG in
 * the same MIME bundle to appear in an offline report.
 */
function chartOutputs(nb: Notebook): { shown: string[]; problems: string[] } {
  const shown: string[] = [], problems: string[] = [];
  nb.cells.forEach((cell, c) => {
    (cell.outputs ?? []).forEach((o, k) => {
      const mimes = Object.keys(o.data ?? {});
      const picked = NBCONVERT_PRIORITY.find((m) => mimes.includes(m));
      const image = picked === "image/svg+xml" || picked === "image/png" || picked === "image/jpeg";
      if (image) shown.push(picked);
      if (mimes.some((m) => VEGA_LITE.test(m)) && !image) {
        problems.push(`cell ${c + 1} output ${k + 1}: Vega-Lite shown as ${picked ?? "nothing"} offline`);
      }
    });
  });
  return { shown, problems };
}

/** Decodes a screenshot and measures how much of it is drawn. */
async function measure(png: Uint8Array): Promise<{ ink: number; inkColor: [number, number, number] }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let n = 0;
  const sum: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < data.length; i += info.channels) {
    const r = data[i]!, g = data[i + 1]!, b = data[i + 2]!; // i < length, and every pixel has 3 channels
    if (Math.min(r, g, b) < 235) {
      n++;
      sum[0] += r;
      sum[1] += g;
      sum[2] += b;
    }
  }
  const pixels = data.length / info.channels;
  return {
    ink: pixels ? n / pixels : 0,
    inkColor: (n ? sum.map((s) => Math.round(s / n)) : [255, 255, 255]) as [number, number, number],
  };
}

/**
 * Opens an HTML report offline (every request but the file itself and `data:` URLs aborted) and screenshots
 * every chart: each `image/svg+xml`, `image/png` and `image/jpeg` output, and each <svg> and <img> inside an
 * HTML output.
 */
async function drawCharts(browser: Browser, html: string, keepAs?: string): Promise<DrawnChart[]> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const allowed = pathToFileURL(html).href;
  await page.route("**/*", (route) => {
    const url = route.request().url();
    return url === allowed || url.startsWith("data:") ? route.continue() : route.abort();
  });
  try {
    await page.goto(allowed, { waitUntil: "load" });
    const selector = [
      '.jp-OutputArea-output[data-mime-type="image/svg+xml"] > :is(img, svg)',
      ".jp-RenderedImage.jp-OutputArea-output > img", // image/png and image/jpeg: no data-mime-type
      '.jp-OutputArea-output[data-mime-type="text/html"] :is(svg, img)',
    ].join(", ");
    // Browser-side code as strings: this project type-checks without the DOM library.
    const infos = await page.evaluate(
      `[...document.querySelectorAll(${JSON.stringify(selector)})].map((e) => {
      const area = e.closest("[data-mime-type]")?.dataset.mimeType ??
        (e.src.startsWith("data:image/jpeg") ? "image/jpeg" : "image/png");
      const tag = e.tagName.toLowerCase();
      const r = e.getBoundingClientRect();
      return {
        kind: area === "text/html" ? "html " + tag : area,
        label: e.getAttribute("alt") ?? e.querySelector("title, text")?.textContent ?? "",
        width: r.width,
        height: r.height,
        broken: tag === "img" && !(e.complete && e.naturalWidth > 0),
        nested: !!e.parentElement.closest("svg"),
      };
    })`,
    ) as (Omit<DrawnChart, "ink" | "inkColor"> & { nested: boolean })[];
    const charts: DrawnChart[] = [];
    for (const [i, { nested, ...info }] of infos.entries()) {
      if (nested) continue; // an <svg> inside another is part of its picture
      const el = page.locator(selector).nth(i);
      const shot = info.width >= 1 && info.height >= 1 ? await el.screenshot() : new Uint8Array();
      if (keepAs) writeFileSync(`${keepAs}-${String(i).padStart(2, "0")}.png`, shot);
      charts.push({
        ...info,
        ...(shot.length ? await measure(shot) : { ink: 0, inkColor: [255, 255, 255] }),
      });
    }
    return charts;
  } finally {
    await context.close();
  }
}

/** Lists every chart that is broken, too small or blank (empty when all show). */
function blankCharts(charts: DrawnChart[]): string[] {
  return charts.flatMap((c, i) => {
    const what = `chart ${i + 1} (${c.kind}, "${c.label.slice(0, 40)}", ${Math.round(c.width)}x${
      Math.round(c.height)
    }, ink ${(c.ink * 100).toFixed(2)}%)`;
    if (c.broken) return [`${what}: the image does not decode`];
    if (c.width < 20 || c.height < 20) return [`${what}: too small to see`];
    return c.ink < MIN_INK ? [`${what}: blank`] : [];
  });
}

/** Checks one report: every chart the notebook holds is drawn, and none is blank. */
async function assertChartsVisible(browser: Browser, nb: Notebook, html: string, name: string) {
  const { shown, problems } = chartOutputs(nb);
  assert.deepEqual(problems, [], `${name}: charts the offline report cannot show`);
  const keep = Deno.env.get("CXR_CHART_SCREENSHOTS");
  if (keep) mkdirSync(keep, { recursive: true });
  const charts = await drawCharts(browser, html, keep ? join(keep, name) : undefined);
  assert.deepEqual(
    charts.filter((c) => !c.kind.startsWith("html")).map((c) => c.kind),
    shown,
    `${name}: the image outputs in the report`,
  );
  assert.deepEqual(blankCharts(charts), [], `${name}: charts without visible pixels`);
  return charts;
}

async function withBrowser<T>(fn: (browser: Browser) => Promise<T>): Promise<T> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS] });
  try {
    return await fn(browser);
  } finally {
    await browser.close();
  }
}

/** A one-rectangle SVG of this colour. */
const SQUARE =
  'const square = (fill: string) => `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80">' +
  '<rect x="10" y="10" width="100" height="60" fill="${fill}"/></svg>`;\n' +
  "const show = (type: string, fill: string) => Deno.jupyter.broadcast(type, { data: { " +
  '"image/svg+xml": square(fill), "text/plain": fill }, metadata: {}, transient: { display_id: "live" } });';

Deno.test({
  name:
    "report: a display updated in place (same cell, later cell, timer) ends in its final state; SVG, PNG " +
    "and Vega-Lite outputs show pixels offline",
  sanitizeOps: false, // playwright-core keeps internal timers and pipes of its own between calls
  sanitizeResources: false,
  async fn() {
    using dir = tempDir("cxr-report-charts-");
    const png = await sharp({ create: { width: 60, height: 40, channels: 3, background: "#0000ff" } }).png()
      .toBuffer();
    const path = writeNotebook(join(dir.path, "charts.ipynb"), [
      codeCell(`${SQUARE}\nshow("display_data", "#00c000");\nshow("update_display_data", "#c0c000");`),
      codeCell('show("update_display_data", "#ff0000");\n"updated from a later cell"'),
      codeCell('setTimeout(() => show("update_display_data", "#ff00ff"), 300);\n"timer set"'),
      codeCell('await new Promise((r) => setTimeout(r, 1500));\n"waited"'),
      codeCell(
        `({ [Symbol.for("Jupyter.display")]: () => ({ "image/png": "${png.toString("base64")}", ` +
          `"text/plain": "png" }) })`,
      ),
      codeCell(
        '({ [Symbol.for("Jupyter.display")]: () => ({ "application/vnd.vegalite.v5+json": { mark: "bar" }, ' +
          '"image/svg+xml": square("#008080"), "text/plain": "vega with svg" }) })',
      ),
    ]);
    const r = await runNotebook(path, join(dir.path, "out"), { envFile: false });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    const nb = readNotebook(r.ipynb);
    const live = nb.cells.flatMap((c, i) =>
      (c.outputs ?? []).filter((o) => o.data?.["image/svg+xml"] && i < 4).map((o) => ({ cell: i, o }))
    );
    assert.equal(live.length, 1, "one output for the live display, where it was first shown");
    assert.equal(live[0]?.cell, 0);
    assert.equal(cellText(live[0]?.o.data?.["text/plain"] as string), "#ff00ff", "its final state");

    const charts = await withBrowser((b) => assertChartsVisible(b, nb, r.html!, "charts"));
    assert.deepEqual(charts.map((c) => [c.kind, c.label]), [
      ["image/svg+xml", "#ff00ff"], // the final state, not the first
      ["image/png", ""],
      ["image/svg+xml", "vega with svg"],
    ]);
    assert.deepEqual(charts.map((c) => c.inkColor), [[255, 0, 255], [0, 0, 255], [0, 128, 128]]);
  },
});

Deno.test({
  name:
    "reports of notebooks 03 and 04: the live loss chart (final epoch), the ROC charts, heatmaps show pixels",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using dir = tempDir("cxr-report-charts-");
    const data = join(dir.path, "nih"), cache = join(dir.path, "cache"), run = join(dir.path, "run");
    const r03 = await runNotebook(join(REPO_ROOT, "notebooks/03_train.ipynb"), join(dir.path, "reports"), {
      envFile: false,
      params: { dataDir: data, cacheDir: cache, outDir: run, synthImages: "120", epochs: "2" },
    });
    assert.equal(r03.ok, true, JSON.stringify(r03.error));
    const r04 = await runNotebook(join(REPO_ROOT, "notebooks/04_score.ipynb"), join(dir.path, "reports"), {
      envFile: false,
      params: {
        dataDir: data,
        cacheDir: cache,
        modelDir: join(run, "best"),
        chartsDir: join(dir.path, "eval"),
        bootstrap: "20",
        galleryImages: "1",
      },
    });
    assert.equal(r04.ok, true, JSON.stringify(r04.error));
    const nb03 = readNotebook(r03.ipynb), nb04 = readNotebook(r04.ipynb);

    const lossCharts = nb03.cells.flatMap((c) => c.outputs ?? []).filter((o) =>
      /Loss per epoch/.test(cellText(o.data?.["image/svg+xml"] as string | undefined))
    );
    assert.equal(lossCharts.length, 1, "the live loss chart is one output");
    assert.equal(
      cellText(lossCharts[0]?.data?.["text/plain"] as string),
      "loss chart, 2 epochs",
      "final state",
    );
    const rocBundles = nb04.cells.flatMap((c) => c.outputs ?? []).filter((o) =>
      Object.keys(o.data ?? {}).some((m) => VEGA_LITE.test(m))
    );
    assert.equal(rocBundles.length, 1, "report.rocChart()");
    assert.match(cellText(rocBundles[0]?.data?.["image/svg+xml"] as string), /<svg[^>]*>.*ROC curves/s);

    await withBrowser(async (browser) => {
      const charts03 = await assertChartsVisible(browser, nb03, r03.html!, "03_train");
      assert.ok(charts03.some((c) => c.label === "loss chart, 2 epochs"), "loss chart drawn");
      const charts04 = await assertChartsVisible(browser, nb04, r04.html!, "04_score");
      assert.ok(charts04.some((c) => c.kind === "image/svg+xml" && /^ROC curves/.test(c.label)), "ROC");
      assert.ok(charts04.filter((c) => c.kind === "html svg").length >= 2, "charts under the AUROC table");
      assert.ok(charts04.filter((c) => c.kind === "html img").length >= 2, "heatmaps");
    });
  },
});
