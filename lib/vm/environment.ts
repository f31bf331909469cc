/**
 * What the doctor may ask of the machine (programs, files, disk, HTTP, ports), behind one interface so tests
 * can feed fixed answers.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { readFile, statfs } from "node:fs/promises";
import { VmError } from "./errors.ts";

/** The outcome of running a program. */
export interface RunResult {
  /** Exit code (127: not found, 124: killed after the timeout). */
  code: number;
  stdout: string;
  /** Its standard error (or why it could not start). */
  stderr: string;
}

/** Options of {@linkcode DoctorEnvironment.run}. */
export interface RunOptions {
  /** Kill the program after this many milliseconds. @default 10000 */
  timeoutMs?: number;
  /** Variables added to the program's environment (how secrets reach `az`, never its arguments). */
  env?: Record<string, string> | undefined;
}

/** Free (to an unprivileged user) and total bytes of a file system. */
export interface DiskSpace {
  free: number;
  total: number;
}

/** An HTTP answer, reduced to what the doctor reads. */
export interface HttpAnswer {
  status: number;
  /** Response headers, lower-case names. */
  headers: Record<string, string>;
  /** Body text (the first 64 KiB). */
  body: string;
}

/** The probes the doctor uses; {@linkcode systemEnvironment} is the real machine. */
export interface DoctorEnvironment {
  /** Runs `cmd args...` (with extra environment variables); never throws (see {@linkcode RunResult}). */
  run(cmd: string, args: string[], options?: RunOptions): Promise<RunResult>;
  /** A file's text, or `undefined` if it cannot be read. */
  readTextFile(path: string): Promise<string | undefined>;
  /** Whether a path exists. */
  exists(path: string): Promise<boolean>;
  /** Free space of the file system holding an existing path, or `undefined`. */
  statfs(path: string): Promise<DiskSpace | undefined>;
  env(name: string): string | undefined;
  /** GET `url`; with `unixSocket`, over that socket (Docker's API). Rejects when nothing answers. */
  get(url: string, options?: { unixSocket?: string; timeoutMs?: number }): Promise<HttpAnswer>;
  /** Whether nothing listens on this TCP port of the loopback interface. */
  portFree(port: number): Promise<boolean>;
  denoVersion: string;
}

async function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 10_000);
  try {
    const child = new Deno.Command(cmd, {
      args,
      ...(options.env ? { env: options.env } : {}),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).spawn();
    const out = await child.output();
    const dec = new TextDecoder();
    if (controller.signal.aborted) {
      return { code: 124, stdout: dec.decode(out.stdout), stderr: `${cmd} did not finish in time` };
    }
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { code: 127, stdout: "", stderr: `${cmd}: not found` };
    return { code: 126, stdout: "", stderr: `${cmd}: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

async function unixGet(socket: string, path: string, timeoutMs: number): Promise<HttpAnswer> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.0\r\nHost: docker\r\n\r\n`));
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    const buf = new Uint8Array(16384);
    let size = 0;
    for (let n = await conn.read(buf); n !== null && size < 65536; n = await conn.read(buf)) {
      chunks.push(buf.slice(0, n));
      size += n;
    }
    const text = new TextDecoder().decode(await new Blob(chunks).arrayBuffer());
    const [head = "", ...rest] = text.split("\r\n\r\n");
    const [statusLine = "", ...headerLines] = head.split("\r\n");
    const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1]);
    if (!Number.isInteger(status)) throw new VmError(`not an HTTP answer from ${socket}`);
    const headers = Object.fromEntries(headerLines.map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()];
    }));
    return { status, headers, body: rest.join("\r\n\r\n") };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

async function get(url: string, options: { unixSocket?: string; timeoutMs?: number } = {}) {
  const timeoutMs = options.timeoutMs ?? 5000;
  if (options.unixSocket) return await unixGet(options.unixSocket, new URL(url).pathname, timeoutMs);
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.text()).slice(0, 65536);
  return { status: res.status, headers: Object.fromEntries(res.headers), body };
}

function portFree(port: number): Promise<boolean> {
  for (const hostname of ["127.0.0.1", "0.0.0.0"]) {
    try {
      Deno.listen({ hostname, port }).close();
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) return Promise.resolve(false);
      return Promise.reject(e);
    }
  }
  return Promise.resolve(true);
}

/**
 * The real machine: subprocesses (killed after their timeout), the file system, `fetch`, sockets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const env = systemEnvironment();
 * assert.equal((await env.run("this-program-does-not-exist", [])).code, 127);
 * assert.ok((await env.statfs("/"))!.total > 0);
 * ```
 */
export function systemEnvironment(): DoctorEnvironment {
  return {
    run,
    readTextFile: (path) => readFile(path, "utf8").catch(() => undefined),
    exists: (path) => Promise.resolve(existsSync(path)),
    statfs: (path) =>
      statfs(path).then((s) => ({ free: s.bavail * s.bsize, total: s.blocks * s.bsize }), () => undefined),
    env: (name) => Deno.env.get(name),
    get,
    portFree,
    denoVersion: Deno.version.deno,
  };
}
