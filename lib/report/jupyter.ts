/**
 * The host's Jupyter server (Debian's classic `notebook`) with Deno's kernel registered, bound to
 * 127.0.0.1 and protected by a random token. The token is a {@linkcode Secret}: the server's own log lines
 * are passed on with it redacted, so the only place it shows is the URL the caller chooses to print.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { redactSecrets, Secret } from "../secrets.ts";
import { findPython } from "./_python.ts";
import { JupyterServerError } from "./errors.ts";

/**
 * Jupyter front-end files of this project: `nbconfig/notebook.json` (found through `JUPYTER_CONFIG_PATH`, merged
 * with the user's own) loads the `nbextensions/cxr/run_in_order.js` extension into every notebook page. It runs
 * queued cells one at a time and stops at the first error: Deno's kernel ignores Jupyter's `stop_on_error`, so
 * "Run All" went on after a failure.
 */
const JUPYTER_FRONTEND = fileURLToPath(new URL("./jupyter_frontend", import.meta.url));

/** What {@linkcode ensureDenoKernel} did. */
export interface KernelStatus {
  /** The kernelspec folder. */
  dir: string;
  /** It was (re-)registered just now. */
  installed: boolean;
}

async function kernelSpecs(
  python: string,
): Promise<Record<string, { resource_dir: string; spec: { argv: string[] } }>> {
  const out = await new Deno.Command(python, {
    args: [
      "-c",
      "import json; from jupyter_client.kernelspec import KernelSpecManager as M; print(json.dumps(M().get_all_specs()))",
    ],
    env: { PYDEVD_DISABLE_FILE_VALIDATION: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new JupyterServerError(
      `Cannot list Jupyter kernels: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/**
 * Registers Deno's Jupyter kernel (`deno jupyter --install`, with this Deno binary) unless a `deno`
 * kernelspec exists whose binary is still there.
 *
 * @throws {JupyterNotFoundError} without Jupyter; {@linkcode JupyterServerError} if registering fails.
 * @example
 * ```ts ignore
 * const { dir, installed } = await ensureDenoKernel();
 * ```
 */
export async function ensureDenoKernel(): Promise<KernelStatus> {
  const python = await findPython();
  const spec = (await kernelSpecs(python)).deno;
  const binary = spec?.spec.argv[0];
  if (spec && binary && existsSync(binary)) return { dir: spec.resource_dir, installed: false };
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["jupyter", "--install", ...(spec ? ["--force"] : [])],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const after = (await kernelSpecs(python)).deno;
  if (!out.success || !after) {
    throw new JupyterServerError(
      `deno jupyter --install failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return { dir: after.resource_dir, installed: true };
}

/** Options of {@linkcode startJupyter}. */
export interface StartJupyterOptions {
  /** Address to bind. @default "127.0.0.1" */
  host?: string;
  /** Folder the server shows. @default Deno.cwd() */
  notebookDir?: string;
  /** Open a browser on the machine running the server. @default false */
  openBrowser?: boolean;
  /** Receives the server's log lines, token redacted. @default discarded */
  onLog?: (line: string) => void;
  /** Seconds to wait for the server to answer. @default 60 */
  startTimeoutSeconds?: number;
  /** Environment for the server and its kernels. @default Deno.env.toObject() */
  env?: Record<string, string>;
}

/** A running Jupyter server. */
export interface JupyterServer {
  /** Base URL without the token, e.g. `http://127.0.0.1:10002/`. */
  url: string;
  token: Secret;
  pid: number;
  /** The URL with `?token=`: printing it reveals the token, so print it once, to the user only. */
  tokenUrl(): string;
  /** Resolves when the server exits. */
  exited: Promise<Deno.CommandStatus>;
  /** Stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it. */
  close(): Promise<void>;
}

async function forwardLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      onLine(redactSecrets(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) onLine(redactSecrets(buf));
}

/**
 * Starts Debian's Jupyter Notebook server on `port` with a fresh random token and waits until it answers
 * an authenticated request. Registers Deno's kernel first if it is missing.
 *
 * @param port TCP port (1-65535).
 * @throws {RangeError} for a bad port; {@linkcode JupyterServerError} if the server exits or does not answer.
 * @example
 * ```ts ignore
 * const server = await startJupyter(10002);
 * console.log(server.tokenUrl());
 * await server.close();
 * ```
 */
export async function startJupyter(port: number, options: StartJupyterOptions = {}): Promise<JupyterServer> {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`startJupyter: port must be an integer 1-65535, got ${port}`);
  }
  const python = await findPython();
  await ensureDenoKernel();
  const host = options.host ?? "127.0.0.1";
  const token = new Secret(randomBytes(24).toString("hex")); // registered for redactSecrets
  const args = [
    "-m",
    "notebook",
    `--ip=${host}`,
    `--port=${port}`,
    "--NotebookApp.port_retries=0",
    `--notebook-dir=${options.notebookDir ?? Deno.cwd()}`,
    options.openBrowser ? "--NotebookApp.open_browser=True" : "--no-browser",
    `--NotebookApp.extra_nbextensions_path=${join(JUPYTER_FRONTEND, "nbextensions")}`,
  ];
  // The server refuses to run as root (containers, CI) without this.
  if (Deno.uid() === 0) args.push("--allow-root");
  const env = options.env ?? Deno.env.toObject();
  const child = new Deno.Command(python, {
    args,
    // The token goes through the environment, never the command line (which `ps` shows to everyone).
    env: {
      ...env,
      JUPYTER_CONFIG_PATH: [JUPYTER_FRONTEND, env.JUPYTER_CONFIG_PATH].filter(Boolean).join(delimiter),
      JUPYTER_TOKEN: token.reveal(),
      PYDEVD_DISABLE_FILE_VALIDATION: "1",
    },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log = options.onLog ?? (() => {});
  const tail: string[] = [];
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > 8) tail.shift();
    log(line);
  };
  const pumps = Promise.all([forwardLines(child.stdout, onLine), forwardLines(child.stderr, onLine)]);
  const exited = pumps.then(() => child.status);
  let gone = false;
  exited.then(() => (gone = true));
  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}/`;
  const server: JupyterServer = {
    url,
    token,
    pid: child.pid,
    tokenUrl: () => `${url}?token=${token.reveal()}`,
    exited,
    async close() {
      if (gone) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => !gone && child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + (options.startTimeoutSeconds ?? 60) * 1000;
  while (Date.now() < deadline && !gone) {
    try {
      const res = await fetch(`${url}api/status`, { headers: { Authorization: `token ${token.reveal()}` } });
      await res.body?.cancel();
      if (res.ok) return server;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  await server.close();
  throw new JupyterServerError(
    `Jupyter server on ${host}:${port} ${gone ? "exited" : "did not answer"}:\n${tail.join("\n")}`,
  );
}
