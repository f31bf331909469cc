/**
 * Executes notebooks headless on Deno's Jupyter kernel and writes the executed `.ipynb` and an HTML report,
 * with every secret scrubbed from both.
 *
 * Execution goes through `_execute.py` (Debian's nbclient) with a grace period after each cell's idle
 * status, because Deno's kernel sometimes publishes idle before the cell's last output and plain
 * `jupyter nbconvert --execute` then drops it. The kernel is this very Deno binary, registered for the
 * run under a private kernelspec, so a report never depends on which `deno` a global kernelspec names.
 *
 * @module
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadSettings, parseDotenv } from "../config.ts";
import { redactSecrets, registerSecret } from "../secrets.ts";
import { type Notebook, readNotebook, redactDeep } from "./notebook.ts";
import { injectParameters } from "./params.ts";
import { findPython } from "./_python.ts";
import { NotebookRunError } from "./errors.ts";

const EXECUTE_PY = fileURLToPath(new URL("./_execute.py", import.meta.url));
/** nbconvert's lab template with SVG outputs shown as images; see the file's comment. */
const REPORT_TEMPLATE = fileURLToPath(new URL("./_report.html.j2", import.meta.url));
const KERNEL_NAME = "cxr-deno-report";

/** Progress of {@linkcode runNotebook}. */
export type ReportEvent =
  | { type: "start"; notebook: string; cells: number }
  | { type: "cell"; notebook: string; number: number; total: number; seconds: number }
  | { type: "html"; notebook: string }
  | { type: "done"; notebook: string; ok: boolean; seconds: number };

/** Options of {@linkcode runNotebook}. */
export interface RunNotebookOptions {
  /** Parameter values by name, as typed on the command line (`--param name=value`). @default {} */
  params?: Record<string, string>;
  /** Seconds one cell may run before the run fails. @default no limit */
  cellTimeoutSeconds?: number;
  /** Quiet time (ms) to wait for late outputs after a cell reports idle; 0 = plain nbclient. @default 250 */
  graceMs?: number;
  /** Write the HTML report too. @default true */
  html?: boolean;
  /** Extra environment variables for the kernel, over this process's environment and `.env`. */
  env?: Record<string, string> | undefined;
  /** Settings file whose variables the kernel also gets, and whose secrets are redacted. @default "./.env" if present */
  envFile?: string | false | undefined;
  /** Receives progress events. */
  onProgress?: (event: ReportEvent) => void;
}

/** The outcome of one notebook, as `deno task report --json` prints it. */
export interface NotebookResult {
  /** The notebook that was run. */
  notebook: string;
  /** The executed notebook written (secrets redacted). */
  ipynb: string;
  /** The HTML report written, if any. */
  html?: string;
  /** Number of code cells executed. */
  cells: number;
  /** Wall time in seconds. */
  seconds: number;
  /** Every cell ran without error. */
  ok: boolean;
  /** What failed, if a cell did. */
  error?: CellFailure;
}

/** A cell that raised or timed out. */
export interface CellFailure {
  /** 1-based position of the cell among all the notebook's cells, as executed (after injection); 0 if none ran. */
  cell: number;
  /** 1-based number among code cells. */
  codeCell: number;
  /** Error class, e.g. `TypeError`, `CellTimeoutError`. */
  ename: string;
  /** Error message (redacted). */
  evalue: string;
}

/** Names of environment variables whose values are treated as secrets besides the settings' own. */
const SECRET_NAME = /(?:KEY|SECRET|TOKEN|PASSWORD|PASSWD|CONNECTION_STRING|SAS)$/i;

/**
 * The environment a notebook's kernel gets: `.env` under this process's variables under `extra`. Every
 * secret in it is registered for {@linkcode redactSecrets}: the settings' secrets (through
 * `loadSettings`, which also validates them) and any variable named like a key, token or password.
 *
 * @throws {ConfigError} if the settings are invalid.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactSecrets } from "../secrets.ts";
 * const env = kernelEnvironment({ envFile: false, env: { CXR_SCORING_KEY: "scoring-key-0123456789", MY_API_TOKEN: "tok-abcdef-123" } });
 * assert.equal(env.CXR_SCORING_KEY, "scoring-key-0123456789");
 * assert.equal(redactSecrets("k=scoring-key-0123456789 t=tok-abcdef-123"), "k=*** t=***");
 * ```
 */
export function kernelEnvironment(
  options: Pick<RunNotebookOptions, "env" | "envFile"> = {},
): Record<string, string> {
  let fileVars: Record<string, string> = {};
  if (options.envFile !== false) {
    const path = resolve(options.envFile ?? ".env");
    try {
      fileVars = parseDotenv(readFileSync(path, "utf8"), path);
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT" || options.envFile !== undefined) throw e;
    }
  }
  const env = { ...fileVars, ...Deno.env.toObject(), ...options.env };
  loadSettings({ env, envFile: false }); // registers the settings' secrets; throws ConfigError if invalid
  for (const [k, v] of Object.entries(env)) if (SECRET_NAME.test(k) && v) registerSecret(v);
  return env;
}

/** Writes a kernelspec for this Deno binary into `dir/kernels/<name>` and returns `dir`. */
function privateKernelspec(dir: string): string {
  const spec = join(dir, "kernels", KERNEL_NAME);
  mkdirSync(spec, { recursive: true });
  writeFileSync(
    join(spec, "kernel.json"),
    JSON.stringify({
      argv: [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"],
      display_name: "Deno (cxr report)",
      language: "typescript",
    }),
  );
  return dir;
}

/**
 * Executes one notebook and writes `<outDir>/<name>.ipynb` and `<outDir>/<name>.html`, secrets redacted.
 * A failing cell does not throw: the result has `ok: false` and `error`, and the executed notebook (with
 * the error output) is still written.
 *
 * @param outDir Where to write the executed notebook and the report.
 * @throws {RangeError} if `outDir` is the notebook's own folder (the source would be overwritten).
 * @throws {UnknownParameterError} if a parameter is not declared in the notebook's `parameters` cell.
 * @throws {NotebookRunError} if the kernel or Jupyter failed (not a cell error).
 * @throws {JupyterNotFoundError} if no Python with nbclient is installed.
 * @example
 * ```ts ignore
 * const r = await runNotebook("notebooks/01_fetch_data.ipynb", "reports", { params: { seed: "7" } });
 * console.log(r.ok, r.html);
 * ```
 */
export async function runNotebook(
  path: string,
  outDir: string,
  options: RunNotebookOptions = {},
): Promise<NotebookResult> {
  const started = performance.now();
  const name = basename(path, extname(path));
  const notebook = injectParameters(readNotebook(path), options.params ?? {}, { file: path });
  const env = kernelEnvironment({ env: options.env, envFile: options.envFile });
  const python = await findPython();
  const ipynb = join(outDir, `${name}.ipynb`);
  if (resolve(ipynb) === resolve(path)) {
    throw new RangeError(`runNotebook: writing to "${outDir}" would overwrite the notebook "${path}"`);
  }
  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "cxr-report-"));
  chmodSync(work, 0o700); // the raw executed notebook may hold secrets until redacted
  const emit = options.onProgress ?? (() => {});
  try {
    const input = join(work, "input.ipynb");
    const raw = join(work, "executed.ipynb");
    writeFileSync(input, JSON.stringify(notebook));
    const args = [EXECUTE_PY, input, raw, "--cwd", resolve(dirname(path)), "--kernel", KERNEL_NAME];
    args.push("--grace-ms", String(options.graceMs ?? 250));
    if (options.cellTimeoutSeconds !== undefined) {
      args.push("--timeout", String(Math.max(1, Math.ceil(options.cellTimeoutSeconds))));
    }
    const kernelspecs = privateKernelspec(join(work, "jupyter"));
    const jupyterPath = [kernelspecs, env.JUPYTER_PATH].filter(Boolean).join(":");
    const child = new Deno.Command(python, {
      args,
      env: { ...env, JUPYTER_PATH: jupyterPath, PYDEVD_DISABLE_FILE_VALIDATION: "1" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let done: Record<string, unknown> | undefined;
    let cells = 0;
    const stderr = new Response(child.stderr).text();
    // _execute.py reports on stdout, one JSON object a line.
    const stdout: ReadableStream<Uint8Array> = child.stdout;
    for await (const line of createInterface({ input: Readable.fromWeb(stdout as WebReadableStream) })) {
      if (!line.trim().startsWith("{")) continue;
      const ev = JSON.parse(line);
      if (ev.event === "start") {
        cells = Number(ev.cells);
        emit({ type: "start", notebook: path, cells });
      } else if (ev.event === "cell") {
        const { number, total, seconds } = ev as { number: number; total: number; seconds: number };
        emit({ type: "cell", notebook: path, number, total, seconds });
      } else if (ev.event === "done") done = ev;
    }
    const status = await child.status;
    const log = await stderr;
    if (!done) {
      const tail = log.trim().split("\n").slice(-5).join("\n");
      throw new NotebookRunError(
        `Cannot execute notebook "${path}": exit code ${status.code}\n${tail}`,
        path,
      );
    }
    const executed = redactDeep(JSON.parse(readFileSync(raw, "utf8")) as Notebook);
    writeFileSync(ipynb, JSON.stringify(executed, null, 1) + "\n");
    const error: CellFailure | undefined = done.ok === true ? undefined : {
      // 0 when the kernel died before any cell started.
      cell: typeof done.cell === "number" ? done.cell + 1 : 0,
      codeCell: typeof done.number === "number" ? done.number : 0,
      ename: redactSecrets(String(done.ename)),
      evalue: redactSecrets(String(done.evalue)),
    };
    let html: string | undefined;
    if (options.html !== false) {
      emit({ type: "html", notebook: path });
      html = await exportHtml(python, ipynb, outDir, env);
    }
    const seconds = Math.round(performance.now() - started) / 1000;
    emit({ type: "done", notebook: path, ok: !error, seconds });
    return {
      notebook: path,
      ipynb,
      ...(html ? { html } : {}),
      cells,
      seconds,
      ok: !error,
      ...(error ? { error } : {}),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Converts an (already redacted) executed notebook to HTML beside it, and scrubs the HTML once more. The
 * template (`_report.html.j2`) shows `image/svg+xml` outputs (charts, including the fallback of Vega-Lite
 * ones, which nbconvert cannot draw offline) as images: nbconvert's own inlining passes them through an HTML
 * sanitiser that strips every SVG shape and leaves a blank box.
 */
async function exportHtml(python: string, ipynb: string, outDir: string, env: Record<string, string>) {
  const name = basename(ipynb, ".ipynb");
  const nbconvert = ["-m", "nbconvert", "--to", "html", "--template-file", REPORT_TEMPLATE];
  const out = await new Deno.Command(python, {
    args: [...nbconvert, "--output", name, "--output-dir", outDir, ipynb],
    env: { ...env, PYDEVD_DISABLE_FILE_VALIDATION: "1" },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const html = join(outDir, `${name}.html`);
  if (!out.success) {
    const tail = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join("\n");
    throw new NotebookRunError(`Cannot export "${ipynb}" to HTML: ${tail}`, ipynb);
  }
  writeFileSync(html, redactSecrets(readFileSync(html, "utf8")));
  return html;
}

/**
 * Formats a failed cell as the one-line message the CLI prints.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const r = { notebook: "n.ipynb", ipynb: "", cells: 3, seconds: 1, ok: false,
 *   error: { cell: 4, codeCell: 2, ename: "TypeError", evalue: "x is not a function" } };
 * assert.equal(failureMessage(r), 'Notebook "n.ipynb" failed in cell 4 (code cell 2 of 3): TypeError: x is not a function');
 * ```
 */
export function failureMessage(result: NotebookResult): string {
  const e = result.error;
  if (!e) return `Notebook "${result.notebook}" ran without error`;
  return `Notebook "${result.notebook}" failed in cell ${e.cell} (code cell ${e.codeCell} of ${result.cells}): ${e.ename}: ${e.evalue}`;
}
