/**
 * The scoring server: {@linkcode createScoringHandler} on a socket, over HTTP or HTTPS. The socket listens
 * first and the model loads after, so Kubernetes probes get answers at once (`/healthz` 200, `/readyz` 503
 * until loaded).
 *
 * It runs on `node:http`/`node:https` rather than `Deno.serve`, because `Deno.serve` has no time limit on
 * reading a request's headers nor on idle kept-alive connections (denoland/deno#3515): 300 connections that
 * never finish their headers would all stay open. Here a client has `headersTimeoutMs` to complete the TLS
 * handshake and send its headers (then 408 and the connection closes), `idleTimeoutMs` between requests on
 * a kept-alive connection, the whole request must arrive within the handler's time limit, and at most
 * `maxConnections` are open at once. Every answer carries {@linkcode securityHeaders}.
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import {
  type BackendName,
  type EngineName,
  openPredictor,
  type Predictor,
  predictorEngine,
  selectBackend,
} from "../model/mod.ts";
import { createScoringHandler, type ScoringHandlerOptions } from "./handler.ts";
import { securityHeaders } from "./page.ts";

/** A TLS certificate chain and its private key, PEM text. */
export interface TlsFiles {
  /** The certificate, then any intermediates (PEM). */
  cert: string;
  /** The private key (PEM, PKCS#8 or the key type's own format). */
  key: string;
}

/** Options of {@linkcode startScoringServer}. */
export interface ScoringServerOptions extends ScoringHandlerOptions {
  /** The model bundle folder. */
  model: string;
  /** Engine: `auto` = onnx when the bundle has `model.onnx`, else tfjs. @default "auto" */
  engine?: EngineName | "auto";
  /** tfjs backend when the tfjs engine runs. @default "auto" */
  backend?: BackendName | "auto";
  /** Port; 0 = any free port. @default 8080 */
  port?: number;
  /** Address to listen on. @default "127.0.0.1" */
  hostname?: string;
  /** Serve HTTPS only with this certificate and key (HTTP/1.1). @default plain HTTP */
  tls?: TlsFiles;
  /** Time a client has to finish the TLS handshake and send the request line and headers. @default 10000 */
  headersTimeoutMs?: number;
  /**
   * Time a kept-alive connection may wait for its next request. Above ingress-nginx's 60 s upstream
   * keep-alive, so the proxy never reuses a connection this side is closing. @default 65000
   */
  idleTimeoutMs?: number;
  /** Connections open at once; further ones are closed on arrival. @default 1024 */
  maxConnections?: number;
}

/** A running scoring server. */
export interface ScoringServer {
  /** Its base URL, e.g. `http://127.0.0.1:8080` (`https://` with `tls`). */
  url: string;
  /** Settles when the model is loaded (rejects with the load error; the server keeps answering 503). */
  ready: Promise<void>;
  /** The engine serving, once ready. */
  readonly engine: EngineName | null;
  /** The model's version, once ready. */
  readonly modelVersion: string | null;
  /** Scoring requests open now. */
  readonly open: number;
  /** Connections open now (idle and slow ones included). */
  readonly connections: number;
  /**
   * Graceful stop: `/readyz` turns 503, open scoring requests finish (at most the request timeout + 1 s),
   * then the socket closes, idle connections are closed, and the model is freed.
   */
  close(): Promise<void>;
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`startScoringServer: ${name} must be an integer >= 1, got ${value}`);
  }
  return value;
}

/** Checks up front that `tls` is a certificate and its own key (never quoting the key). */
function checkTls(tls: TlsFiles): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(tls.cert);
  } catch (e) {
    throw new TypeError(`startScoringServer: tls.cert is not a PEM certificate (${(e as Error).message})`, {
      cause: e,
    });
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(tls.key);
  } catch (e) {
    throw new TypeError("startScoringServer: tls.key is not a PEM private key", { cause: e });
  }
  if (!cert.checkPrivateKey(key)) {
    throw new TypeError(
      `startScoringServer: tls.key is not the private key of the certificate (${cert.subject})`,
    );
  }
}

const HOST = /^(?:[\w.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The fetch `Request` for a node request, its body streaming with backpressure, and `discard`, which drops
 * whatever of the body the handler did not read (an answer given before the body, such as 401, or a body
 * refused as too large): node then reads and throws it away, bounded by the request time limit, so the
 * client that is still sending gets the answer.
 */
function toRequest(
  req: IncomingMessage,
  base: string,
  signal: AbortSignal,
): { request: Request; discard(): void } {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const host = headers.get("host");
  const origin = host && HOST.test(host) ? `${base.split("://")[0]}://${host}` : base;
  const target = req.url ?? "/";
  const absolute = target.startsWith("/") ? null : new URL(target); // absolute-form: a proxy's request line
  const url = new URL(absolute ? absolute.pathname + absolute.search : target, origin);
  const method = req.method ?? "GET";
  let body: ReadableStream<Uint8Array> | null = null;
  let finished = false;
  const discard = () => {
    finished = true;
    if (!req.complete) req.resume();
  };
  if (method !== "GET" && method !== "HEAD") {
    body = new ReadableStream<Uint8Array>({
      start(controller) {
        req.on("data", (chunk: Uint8Array) => {
          if (finished) return;
          controller.enqueue(new Uint8Array(chunk)); // a copy: the queue may hold it past this callback
          if ((controller.desiredSize ?? 0) <= 0) req.pause();
        });
        const finish = (then: () => void) => {
          if (!finished) then();
          finished = true;
        };
        req.on("end", () => finish(() => controller.close()));
        const cut = () => {
          if (!req.complete) controller.error(new Error("the client closed the connection"));
        };
        req.on("close", () => finish(cut));
        req.on("error", (e) => finish(() => controller.error(e)));
      },
      pull() {
        req.resume();
      },
      cancel: discard,
    }, new ByteLengthQueuingStrategy({ highWaterMark: 65536 }));
  }
  const request = new Request(url, { method, headers, body, signal, duplex: "half" } as RequestInit);
  return { request, discard };
}

/**
 * How long an answer given before its request's body (401, 413, 415, 503 busy) waits for the client to finish
 * sending, the body thrown away as it comes. Answering and closing at once would make the kernel reset the
 * connection on the client's next bytes, and a client that reads only after sending (a browser's `fetch`)
 * then sees "Failed to fetch" instead of the answer; this is nginx's lingering close.
 */
const LINGER_MS = 5000;

/**
 * Connections that may linger at once; past that, refused uploads are cut as they are answered (a flood of
 * them costs no memory, and its clients may see a reset). Reading refused bodies costs memory that no budget
 * sees (measured, 64 refused 19 MB uploads at once: peak RSS 505 MiB when all are cut, 755 when all linger).
 */
const LINGER_AT_ONCE = 4;

/** Resolves when the request's body has all arrived (or the connection ended), at most after `ms`. */
function linger(req: IncomingMessage, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      req.off("end", done).off("close", done).off("error", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    req.on("end", done).on("close", done).on("error", done);
  });
}

async function send(res: ServerResponse, answer: Response, head: boolean): Promise<void> {
  // Every answer of this service is small (JSON, the page, the card, metrics): send it with its length.
  const body = new Uint8Array(await answer.arrayBuffer());
  res.statusCode = answer.status;
  for (const [name, value] of answer.headers) res.setHeader(name, value);
  if (!answer.headers.has("content-length") && !head) res.setHeader("content-length", body.byteLength);
  res.end(head ? undefined : body);
}

/**
 * Starts the scoring server and begins loading the model.
 *
 * @returns once the socket listens (await `ready` for the model).
 * @throws {RangeError} for a bad port or limit; {@linkcode TypeError} when `tls` is not a certificate and
 * its private key; `Deno.errors.AddrInUse` when the port is taken.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, saveBundle, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync();
 * await saveBundle(createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 }), dir);
 * const server = await startScoringServer({ model: dir, engine: "tfjs", port: 0, key: null, log: () => {} });
 * await server.ready;
 * const res = await fetch(`${server.url}/readyz`);
 * assert.equal((await res.json()).status, "ready");
 * assert.equal(res.headers.get("x-content-type-options"), "nosniff");
 * await server.close();
 * ```
 */
export async function startScoringServer(options: ScoringServerOptions): Promise<ScoringServer> {
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`startScoringServer: port must be an integer 0..65535, got ${port}`);
  }
  const headersTimeout = positive("headersTimeoutMs", options.headersTimeoutMs ?? 10_000);
  const idleTimeout = positive("idleTimeoutMs", options.idleTimeoutMs ?? 65_000);
  const maxConnections = positive("maxConnections", options.maxConnections ?? 1024);
  const requestTimeout = (options.timeoutMs ?? 30_000) + headersTimeout;
  if (options.tls) checkTls(options.tls);
  const hostname = options.hostname ?? "127.0.0.1";
  let predictor: Predictor | null = null;
  const engine = options.engine ?? "auto";
  const loading = (async () => {
    await new Promise((r) => setTimeout(r, 0)); // let the socket answer probes first
    if (predictorEngine(options.model, engine) === "tfjs") await selectBackend(options.backend ?? "auto");
    predictor = await openPredictor(options.model, { engine });
    return predictor;
  })();
  const handler = createScoringHandler(loading, options);
  const extra = Object.entries(securityHeaders({ hsts: options.tls !== undefined }));
  const scheme = options.tls ? "https" : "http";
  let base = `${scheme}://localhost`;

  let lingering = 0;
  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const gone = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) gone.abort(new Error("the client closed the connection"));
    });
    let answer: Response;
    let discard: () => void = () => req.resume();
    try {
      const incoming = toRequest(req, base, gone.signal);
      discard = incoming.discard;
      answer = await handler(incoming.request);
    } catch {
      // Only a request the fetch API cannot represent gets here (the handler itself never throws).
      answer = Response.json(
        { error: { status: 400, code: "bad_request", message: "The request cannot be read" } },
        { status: 400 },
      );
    }
    for (const [name, value] of extra) if (!answer.headers.has(name)) answer.headers.set(name, value);
    discard();
    if (!req.complete && answer.headers.get("connection") === "close" && lingering < LINGER_AT_ONCE) {
      lingering++;
      await linger(req, LINGER_MS);
      lingering--;
    }
    if (res.destroyed) return;
    try {
      await send(res, answer, req.method === "HEAD");
    } catch {
      res.destroy();
    }
  };
  const timeouts = {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: idleTimeout,
    // node checks the header and request limits on this period (30 s by default: far too coarse).
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
  const server: Server = options.tls
    ? createHttpsServer({ ...timeouts, ...options.tls, handshakeTimeout: headersTimeout }, onRequest)
    : createHttpServer(timeouts, onRequest);
  server.maxConnections = maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: Error & { code?: string }) => {
      reject(
        e.code === "EADDRINUSE"
          ? new Deno.errors.AddrInUse(`Cannot listen on ${hostname}:${port}: the address is in use`, {
            cause: e,
          })
          : e,
      );
    });
    server.listen(port, hostname, () => resolve());
  });
  server.on("error", () => {}); // after listening, socket errors belong to their connections
  const addr = server.address() as AddressInfo;
  const host = addr.address.includes(":") ? `[${addr.address}]` : addr.address;
  base = `${scheme}://${host}:${addr.port}`;
  let connections = 0;
  server.on(options.tls ? "secureConnection" : "connection", (socket) => {
    connections++;
    socket.once("close", () => connections--);
  });
  let closed: Promise<void> | null = null;
  const ready = loading.then(() => {});
  ready.catch(() => {}); // handled by whoever awaits `ready`; the handler reports it on /readyz
  return {
    url: base,
    ready,
    get engine() {
      return (predictor as Predictor | null)?.engine ?? null;
    },
    get open() {
      return handler.open;
    },
    get connections() {
      return connections;
    },
    get modelVersion() {
      return (predictor as Predictor | null)?.metadata.modelVersion ?? null;
    },
    close() {
      closed ??= (async () => {
        // Let open scoring requests finish first (bounded by the request timeout), then stop listening,
        // close connections as they turn idle, and cut whatever is left after a short grace.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const wait = (ms: number) => new Promise((r) => timer = setTimeout(r, ms));
        await Promise.race([handler.drain(), wait((options.timeoutMs ?? 30_000) + 1000)]);
        clearTimeout(timer);
        const stopped = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 50);
        await Promise.race([stopped, wait(2000)]);
        clearTimeout(timer);
        clearInterval(sweep);
        server.closeAllConnections();
        await stopped;
        await loading.then((p) => p.dispose(), () => {});
      })();
      return closed;
    },
  };
}
