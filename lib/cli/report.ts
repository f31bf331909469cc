/**
 * `deno task report` (execute notebooks headless, write executed notebooks and HTML reports) and
 * `deno task jupyter` (the host's Jupyter server with Deno's kernel).
 *
 * @module
 */
import { existsSync, readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  asUsageError,
  type Command,
  intOption,
  optionalString,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import { loadSettings } from "../config.ts";
import {
  failureMessage,
  injectParameters,
  inRunOrder,
  type NotebookResult,
  parseParamArg,
  readNotebook,
  runNotebook,
  startJupyter,
  UnknownParameterError,
} from "../report/mod.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Every `notebooks/*.ipynb` of the repository, in run order (02 after the 03 whose model it packages). */
function defaultNotebooks(): string[] {
  const dir = join(REPO_ROOT, "notebooks");
  if (!existsSync(dir)) return [];
  return inRunOrder(readdirSync(dir).filter((f) => f.endsWith(".ipynb")).map((f) => join(dir, f)));
}

function shortName(path: string): string {
  const rel = relative(Deno.cwd(), path);
  return rel.startsWith("..") ? path : rel;
}

/** The `report` command. */
export const reportCommand: Command = {
  name: "report",
  summary: "Execute notebooks headless on Deno's Jupyter kernel; write executed .ipynb and HTML reports.",
  positionals: "[NOTEBOOK...]",
  details:
    "Runs each notebook (default: every notebooks/*.ipynb, in run order: 00 01 03 04 02 05) in its own folder, stopping at " +
    "the first failing cell: exit 1 naming the notebook, cell and error; the executed notebook with the " +
    "error is still written. --param name=value re-declares a variable of the cell tagged `parameters` in " +
    "a cell tagged `injected-parameters` inserted after it (numbers, booleans and JSON as they are, " +
    "anything else as a string). For notebook authors: declare each parameter on its own line with `const` " +
    "or `let` (the injected cell repeats that keyword; Deno's kernel rejects a change of keyword) and do " +
    "not declare those names again elsewhere. Every secret from the settings is replaced by *** in both " +
    "outputs.",
  options: {
    out: { valueName: "DIR", description: "Folder for the reports.", defaultText: "reports" },
    param: {
      multiple: true,
      valueName: "NAME=VALUE",
      description: "Set a parameter of the notebook's `parameters` cell.",
    },
    timeout: {
      valueName: "SECONDS",
      description: "Fail a cell that runs longer than this.",
      defaultText: "no limit",
    },
    "grace-ms": {
      valueName: "MS",
      description: "Wait this long for late outputs after a cell reports idle (0 = plain nbclient).",
      defaultText: "250",
    },
    "env-file": { valueName: "FILE", description: "Settings file.", defaultText: ".env" },
  },
  async run(values, ctx) {
    const notebooks = ctx.positionals.length > 0
      ? ctx.positionals.map((p) => resolve(p))
      : defaultNotebooks();
    if (notebooks.length === 0) throw new UsageError("No notebooks given and none in notebooks/");
    for (const nb of notebooks) {
      if (!existsSync(nb)) throw new UsageError(`Notebook "${nb}" does not exist`);
    }
    const params: Record<string, string> = {};
    for (const p of (values.param ?? []) as string[]) {
      const [k, v] = asUsageError(() => parseParamArg(p));
      params[k] = v;
    }
    // Check every notebook takes the parameters before running any of them.
    for (const nb of notebooks) {
      try {
        injectParameters(readNotebook(nb), params, { file: shortName(nb) });
      } catch (e) {
        if (e instanceof UnknownParameterError) throw new UsageError(e.message, { cause: e });
        throw e;
      }
    }
    const timeout = intOption(values, "timeout", { min: 1, optional: true });
    const graceMs = intOption(values, "grace-ms", { min: 0, max: 10_000, fallback: 250 });
    const outDir = resolve(stringOption(values, "out", "reports"));
    const envFile = optionalString(values, "env-file");
    const results: NotebookResult[] = [];
    for (const nb of notebooks) {
      const label = shortName(nb);
      const result = await runNotebook(nb, outDir, {
        params,
        graceMs,
        ...withoutUndefined({ envFile, cellTimeoutSeconds: timeout }),
        onProgress(e) {
          if (e.type === "start") ctx.err(`${label}: ${e.cells} code cells`);
          if (e.type === "cell") ctx.err(`${label}: cell ${e.number}/${e.total} ${e.seconds.toFixed(2)}s`);
        },
      }).catch((e) => {
        throw e instanceof RangeError ? new UsageError(e.message, { cause: e }) : e;
      });
      results.push({
        ...result,
        notebook: label,
        ipynb: shortName(result.ipynb),
        ...(result.html ? { html: shortName(result.html) } : {}),
      });
      if (!result.ok) break;
      ctx.err(`${label}: ok in ${result.seconds.toFixed(1)}s -> ${shortName(result.html ?? result.ipynb)}`);
    }
    if (ctx.json) ctx.out(JSON.stringify({ notebooks: results }));
    const failed = results.find((r) => !r.ok);
    if (failed) {
      ctx.err(`error: ${failureMessage(failed)} (executed notebook: ${failed.ipynb})`);
      return 1;
    }
    if (!ctx.json) { for (const r of results) ctx.out(r.html ?? r.ipynb); }
  },
};

/** The `jupyter` command. */
export const jupyterCommand: Command = {
  name: "jupyter",
  summary: "Start the Jupyter server with Deno's kernel, token-protected, on 127.0.0.1.",
  details: "Registers Deno's kernel if it is missing, starts Debian's Jupyter Notebook server in the " +
    "repository root with a fresh random token, and prints the URL with the token once. Server log lines " +
    "go to stderr with the token redacted. Stop it with Ctrl-C.",
  options: {
    port: { valueName: "N", description: "Port.", defaultText: "CXR_JUPYTER_PORT or 10002" },
    host: { valueName: "HOST", description: "Address to bind.", defaultText: "127.0.0.1" },
    "no-browser": { description: "Do not open a browser." },
  },
  async run(values, ctx) {
    const port = intOption(values, "port", { min: 1, max: 65535, optional: true }) ??
      loadSettings().jupyterPort;
    const host = stringOption(values, "host", "127.0.0.1");
    const server = await startJupyter(port, {
      host,
      notebookDir: REPO_ROOT,
      openBrowser: values["no-browser"] !== true,
      onLog: (line) => ctx.err(line),
    });
    // The one place the token is shown.
    if (ctx.json) ctx.out(JSON.stringify({ url: server.tokenUrl(), host, port, pid: server.pid }));
    else ctx.out(`Jupyter is running at ${server.tokenUrl()}`);
    let stopping = false;
    const stop = () => {
      stopping = true;
      server.close();
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    const status = await server.exited;
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    if (!stopping) {
      ctx.err(`error: the Jupyter server stopped by itself (exit code ${status.code})`);
      return 1;
    }
  },
};
