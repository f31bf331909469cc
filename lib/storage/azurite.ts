/**
 * Azurite, the Azure Storage emulator, as the embedded default and as the real component in tests:
 * {@linkcode startAzurite} runs its blob service inside this process (through `dist/src/blob/BlobServer.js`;
 * the package main needs VS Code), {@linkcode spawnAzurite} runs `azurite-blob` as a subprocess. Both keep
 * their data in a local folder, check requests strictly (loose mode off), skip the API-version check
 * (storage-blob 12.34.0 speaks a newer version than Azurite knows) and send no telemetry.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { fileURLToPath } from "node:url";
import { Secret } from "../secrets.ts";

/** The emulator's well-known account name. */
export const AZURITE_ACCOUNT = "devstoreaccount1";

/** The emulator's published account key (public, but handled as a secret so it never prints). */
export const AZURITE_ACCOUNT_KEY: Secret = new Secret(
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
);

/** A running Azurite blob service. */
export interface AzuriteServer {
  /** Bound host. */
  host: string;
  /** Bound port (the real one when 0 was asked for). */
  port: number;
  /** Blob endpoint of the emulator account, e.g. `http://127.0.0.1:10000/devstoreaccount1`. */
  endpoint: string;
  /** A connection string for the emulator account. */
  connectionString: Secret;
  /** Process id when it runs as a subprocess. */
  pid?: number | undefined;
  /** Stops the service (data stays in the folder). */
  close(): Promise<void>;
}

/** Options of {@linkcode startAzurite} and {@linkcode spawnAzurite}. */
export interface AzuriteOptions {
  /** Interface to bind. @default "127.0.0.1" */
  host?: string;
  /** Port; 0 picks a free one. @default 10000 */
  port?: number;
}

/**
 * A connection string for the emulator account at a blob endpoint (an emulator, or a proxy in front of one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const cs = azuriteConnectionString("http://127.0.0.1:10000/devstoreaccount1").reveal();
 * assert.match(cs, /^DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=.+;BlobEndpoint=http:\/\/127\.0\.0\.1:10000\/devstoreaccount1;$/);
 * ```
 */
export function azuriteConnectionString(endpoint: string): Secret {
  const key = AZURITE_ACCOUNT_KEY.reveal();
  return new Secret(
    `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${key};BlobEndpoint=${endpoint};`,
  );
}

function server(host: string, port: number, close: () => Promise<void>, pid?: number): AzuriteServer {
  const endpoint = `http://${host}:${port}/${AZURITE_ACCOUNT}`;
  return { host, port, endpoint, connectionString: azuriteConnectionString(endpoint), pid, close };
}

/** The host and port `options` ask for, the port checked. */
function address(options: AzuriteOptions, fn: string): { host: string; port: number } {
  const port = options.port ?? 10000;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${fn}: port must be an integer 0-65535, got ${port}`);
  }
  return { host: options.host ?? "127.0.0.1", port };
}

interface BlobServerLike {
  start(): Promise<void>;
  close(): Promise<void>;
  getHttpServerAddress(): string;
}
type Ctor<T> = new (...args: unknown[]) => T;

/**
 * Starts Azurite's blob service inside this process, with its data in `dir`.
 *
 * @param dir Folder for the emulator's database and blobs (created if missing).
 * @returns the running server; `close()` stops it.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * const azurite = await startAzurite(dir, { port: 0 });
 * assert.ok(azurite.port > 0);
 * assert.equal(String(azurite.connectionString), "***");
 * await azurite.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function startAzurite(dir: string, options: AzuriteOptions = {}): Promise<AzuriteServer> {
  const { host, port } = address(options, "startAzurite");
  mkdirSync(join(dir, "__blobstorage__"), { recursive: true });
  // Azurite's dependencies load node:punycode, which prints a deprecation warning: keep stderr clean.
  const proc = process as { noDeprecation?: boolean | undefined };
  const quiet = proc.noDeprecation;
  proc.noDeprecation = true;
  const [serverMod, configMod, telemetryMod] = await Promise.all([
    import("azurite/dist/src/blob/BlobServer.js"),
    import("azurite/dist/src/blob/BlobConfiguration.js"),
    import("azurite/dist/src/common/Telemetry.js"),
  ]).finally(() => proc.noDeprecation = quiet);
  const BlobServer = (serverMod.default?.default ?? serverMod.default) as Ctor<BlobServerLike>;
  const BlobConfiguration = (configMod.default?.default ?? configMod.default) as Ctor<unknown>;
  // The CLI's --disableTelemetry: in-process nothing initialises telemetry, and this pins it off.
  telemetryMod.default?.AzuriteTelemetryClient?.init?.("", false, undefined);
  const config = new BlobConfiguration(
    host,
    port,
    undefined, // keep-alive timeout: default
    join(dir, "__azurite_db_blob__.json"),
    join(dir, "__azurite_db_blob_extent__.json"),
    [{ locationId: "Default", locationPath: join(dir, "__blobstorage__"), maxConcurrency: 10 }],
    false, // access log
    undefined,
    false, // debug log
    undefined,
    false, // loose
    true, // skipApiVersionCheck
  );
  const blob = new BlobServer(config);
  await blob.start();
  const bound = Number(new URL(blob.getHttpServerAddress()).port);
  let closed = false;
  return server(host, bound, async () => {
    if (closed) return;
    closed = true;
    await blob.close();
  });
}

/** The repository root, where deno.json pins the azurite package. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Starts Azurite's blob service as a subprocess (`azurite-blob` under Deno), with its data in `dir`, and
 * waits until it listens.
 *
 * @throws {Error} naming the exit status and the last output lines if it fails to start within 60 s.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * const azurite = await spawnAzurite(dir, { port: 0 });
 * assert.ok(azurite.pid && azurite.port > 0);
 * await azurite.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function spawnAzurite(dir: string, options: AzuriteOptions = {}): Promise<AzuriteServer> {
  const { host, port } = address(options, "spawnAzurite");
  mkdirSync(dir, { recursive: true });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "npm:azurite@3.37.0/azurite-blob",
      "--blobHost",
      host,
      "--blobPort",
      String(port),
      "--location",
      dir,
      "--skipApiVersionCheck",
      "--disableTelemetry",
      "--silent",
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const tail: string[] = [];
  const listening = Promise.withResolvers<number>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const line of createInterface({ input: Readable.fromWeb(stream as WebReadableStream) })) {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      const m = /successfully listens on https?:\/\/[^:]+:(\d+)/.exec(line);
      if (m) listening.resolve(Number(m[1]));
    }
  };
  const drained = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    listening.promise,
    child.status.then((s) => `exited with code ${s.code}`),
    new Promise<string>((resolve) => timer = setTimeout(() => resolve("did not listen within 60 s"), 60_000)),
  ]);
  clearTimeout(timer);
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  if (typeof outcome === "string") {
    kill("SIGKILL");
    await child.status;
    await drained;
    throw new Error(`Azurite subprocess ${outcome}: ${tail.slice(-5).join(" | ")}`);
  }
  return server(host, outcome, async () => {
    kill("SIGTERM");
    const t = setTimeout(() => kill("SIGKILL"), 5000);
    await child.status;
    clearTimeout(t);
    await drained;
  }, child.pid);
}

/**
 * Whether something accepts TCP connections at `host:port`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * assert.equal(await isListening("127.0.0.1", listener.addr.port), true);
 * listener.close();
 * ```
 */
export function isListening(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
