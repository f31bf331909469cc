/**
 * "Run All" in the browser, as a user does it: `startJupyter` (what `./run jupyter` starts) with Deno's
 * kernel, a notebook opened in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core) and
 * Cell > Run All clicked. Deno's kernel ignores Jupyter's `stop_on_error`, so without the page's own queue
 * (lib/report/jupyter_frontend/nbextensions/cxr/run_in_order.js) every cell after a failing one still ran; here the run stops at
 * the failing cell, the later cells never reach the kernel, and a cell tagged `raises-exception` does not stop
 * it.
 */
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS as ARGS, REPO_ROOT, tempDir } from "./_fixtures.ts";
import { codeCell, freePort, markdownCell, writeNotebook } from "./_kernel.ts";
import { startJupyter } from "../lib/report/mod.ts";

/** Polls an expression in the page until it is truthy and returns its value. */
async function waitFor<T>(page: Page, expression: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await page.evaluate(expression);
    if (value) return value as T;
    if (Date.now() > deadline) throw new Error(`waitFor: still false after ${timeoutMs} ms: ${expression}`);
    await page.waitForTimeout(50);
  }
}

/** Each code cell's prompt number (null: not run) and output text, as the page shows them. */
const CELLS = `Jupyter.notebook.get_cells().filter((c) => c.cell_type === "code").map((c) => ({
  prompt: c.input_prompt_number ?? null,
  running: c.element.hasClass("running"),
  text: c.output_area.outputs.map((o) => o.text ?? o.evalue ?? (o.data && o.data["text/plain"]) ?? "").join("|"),
}))`;

interface CellState {
  prompt: number | string | null;
  running: boolean;
  text: string;
}

/** Asks the kernel directly (not through a cell) for `expression`'s text/plain value. */
function kernelValue(page: Page, expression: string): Promise<string> {
  return page.evaluate(
    `new Promise((resolve) => Jupyter.notebook.kernel.execute(${JSON.stringify(expression)}, {
    iopub: { output: (msg) => msg.content.data && resolve(msg.content.data["text/plain"]) },
  }, { silent: false, store_history: false }))`,
  ) as Promise<string>;
}

async function runAll(page: Page): Promise<void> {
  await page.click("#celllink");
  await page.click("#run_all_cells");
}

Deno.test({
  name:
    "Run All in the browser (Jupyter Notebook, Deno kernel) stops at the first failing cell; raises-exception goes on",
  // playwright-core keeps internal timers and pipes of its own between calls
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using dir = tempDir("cxr-run-all-");
    writeNotebook(join(dir.path, "stops.ipynb"), [
      markdownCell("# A notebook whose second cell fails"),
      codeCell(`globalThis.ranFirst = 1; "first ran"`),
      codeCell(`throw new Error("no model bundle here: run notebook 03 first")`),
      codeCell(`globalThis.ranThird = 3; "third ran"`),
      codeCell(`"fourth ran"`),
    ]);
    const server = await startJupyter(freePort(), { notebookDir: dir.path });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS] });
    try {
      const page = await browser.newPage();
      const token = server.tokenUrl().split("?")[1];
      await page.goto(`${server.url}notebooks/stops.ipynb?${token}`);
      await waitFor(
        page,
        `window.Jupyter?.notebook?.kernel?.is_connected() && Jupyter.notebook.kernel.info_reply`,
      );

      await runAll(page);
      let cells = await waitFor<CellState[]>(
        page,
        `(() => { const cells = ${CELLS}; return cells.every((c) => !c.running) && cells[1].prompt && cells; })()`,
      );
      // Give a kernel that went on time to show it: a later cell would answer within milliseconds.
      await page.waitForTimeout(1500);
      cells = await page.evaluate(CELLS) as CellState[];
      assert.match(cells[0]?.text ?? "", /first ran/);
      assert.match(cells[1]?.text ?? "", /no model bundle here: run notebook 03 first/);
      assert.deepEqual(cells.slice(2), [
        { prompt: null, running: false, text: "" },
        { prompt: null, running: false, text: "" },
      ]);
      assert.equal(await kernelValue(page, "typeof globalThis.ranThird"), '"undefined"');
      assert.match(
        await page.textContent("#notification_cxr_run") ?? "",
        /Stopped at the cell that failed: 2/,
      );

      // Tagged raises-exception (Jupyter's way to say "this error is expected"), the run goes on.
      await page.evaluate(`Jupyter.notebook.get_cells().filter((c) => c.cell_type === "code")[1]
        .metadata.tags = ["raises-exception"]`);
      await runAll(page);
      cells = await waitFor<CellState[]>(
        page,
        // Outputs come on another channel than the reply that sets the prompt: wait for both.
        `(() => { const cells = ${CELLS};
          return cells.every((c) => !c.running) && cells[3].prompt && cells[3].text && cells[2].text && cells; })()`,
      );
      assert.match(cells[1]?.text ?? "", /no model bundle here/);
      assert.match(cells[2]?.text ?? "", /third ran/);
      assert.match(cells[3]?.text ?? "", /fourth ran/);
      assert.ok((cells[0]?.prompt as number) < (cells[1]?.prompt as number), "cells ran in order");
      assert.ok((cells[2]?.prompt as number) < (cells[3]?.prompt as number), "cells ran in order");
      assert.equal(await kernelValue(page, "globalThis.ranThird"), "3");
    } finally {
      await browser.close();
      await server.close();
    }
  },
});

Deno.test({
  name:
    "notebook 04 opened alone in the browser: Run All stops at its first cell that needs notebook 03's model, saying so",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A copy of the project's layout without data/: notebooks/04 and the lib, config and packages it imports.
    using dir = tempDir("cxr-run-all-04-");
    for (const name of ["deno.json", "deno.lock", "node_modules", "lib"]) {
      if (existsSync(join(REPO_ROOT, name))) symlinkSync(join(REPO_ROOT, name), join(dir.path, name));
    }
    mkdirSync(join(dir.path, "notebooks"));
    copyFileSync(
      join(REPO_ROOT, "notebooks", "04_score.ipynb"),
      join(dir.path, "notebooks", "04_score.ipynb"),
    );
    const server = await startJupyter(freePort(), { notebookDir: dir.path });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS] });
    try {
      const page = await browser.newPage();
      const token = server.tokenUrl().split("?")[1];
      await page.goto(`${server.url}notebooks/notebooks/04_score.ipynb?${token}`);
      await waitFor(
        page,
        `window.Jupyter?.notebook?.kernel?.is_connected() && Jupyter.notebook.kernel.info_reply`,
      );
      await runAll(page);
      // The guard is the third code cell (imports, parameters, then requireBundle).
      await waitFor(
        page,
        `(() => { const cells = ${CELLS}; return cells.every((c) => !c.running) && cells[2].text; })()`,
        180_000,
      );
      // Give a kernel that went on time to show it, as above.
      await page.waitForTimeout(1500);
      const cells = await page.evaluate(CELLS) as CellState[];
      assert.match(
        cells[2]?.text ?? "",
        /No model bundle at ".*data\/train-demo\/run\/best".*run notebook 03 first, or set modelDir/,
      );
      assert.equal(cells[0]?.text, "", "the imports cell ran cleanly");
      const later = cells.slice(3);
      assert.ok(later.length >= 8, `${later.length} cells after the guard`);
      assert.deepEqual(
        later.filter((c) => c.prompt !== null || c.text !== ""),
        [],
        "no cell after the guard ran",
      );
      assert.equal(await kernelValue(page, "typeof predictor"), '"undefined"');
    } finally {
      await browser.close();
      await server.close();
    }
  },
});
