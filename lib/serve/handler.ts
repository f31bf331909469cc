/**
 * The scoring service as one `fetch` function (`(req: Request) => Promise<Response>`, hono style): only the
 * server calls `Deno.serve`, tests call the handler with real `Request`s.
 *
 * Routes: `POST /score`; `GET /model` (the model card as Markdown, `?format=json` the bundle metadata);
 * `GET /healthz` (alive), `GET /readyz` (model loaded), `GET /metrics` (Prometheus text), `GET /` (an upload
 * page). With a key configured, `/score` and `/metrics` need `Authorization: Bearer <key>`; `/model`,
 * `/healthz`, `/readyz` and the page are open (the page asks for the key): what a model is and what it must
 * not be used for is for anyone who can reach it to read.
 *
 * Memory is bounded before work is admitted: a scoring request reserves its body's size (`Content-Length`,
 * or `maxBodyBytes` when chunked) from a byte budget shared by all requests in flight (`maxInflightBytes`)
 * before a byte of it is read, and is answered 503 `busy` with `Retry-After` past it (or when the queue is
 * already full); its body is read into one bounded buffer, a JSON body is scanned without building anything
 * but its three fields, and an image is refused from its header when it would decode to more than
 * `maxDecodedBytes`. An answer given without reading the body closes the connection (`Connection: close`),
 * so the server does not drain the unread upload. Score answers carry `Cache-Control: no-store` (they are
 * health data). A client that goes away mid-body is answered (to nobody) and counted 499 `client_closed`,
 * never as a server error.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { redactSecrets, type Secret } from "../config.ts";
import { modelCard, type Predictor } from "../model/mod.ts";
import {
  BudgetFullError,
  ByteBudget,
  type ByteReservation,
  ConcurrencyLimiter,
  QueueFullError,
} from "./limiter.ts";
import { type MetricRoute, ScoringMetrics } from "./metrics.ts";
import { scoringPageResponse } from "./page.ts";
import { bodyReservation, readBody } from "./read_body.ts";
import { parseScoreRequest, ScoreHttpError, scoreMediaType } from "./score_format.ts";
import { scoreImage } from "./score_image.ts";

/** One structured log line (written as JSON to stderr by default). Never holds the key or image bytes. */
export interface ScoringLogEntry {
  time: string;
  level: "info" | "warn" | "error";
  msg: string;
  id?: string;
  method?: string;
  route?: string;
  status?: number;
  ms?: number;
  code?: string;
  bytes?: number;
  error?: string;
}

/** The handler: a `fetch` function, plus what a server needs to shut down gracefully. */
export interface ScoringHandler {
  (req: Request): Promise<Response>;
  /** Scoring requests received and not yet answered (reading their body, queued or running). */
  readonly open: number;
  /**
   * Starts draining: `/readyz` answers 503 (so a load balancer stops sending), requests keep being served.
   * @returns a promise that settles once no scoring request is open.
   */
  drain(): Promise<void>;
}

/** Options of {@linkcode createScoringHandler}. */
export interface ScoringHandlerOptions {
  /** Key clients must send as `Authorization: Bearer <key>`; `null`/absent = no authentication. */
  key?: Secret | string | null;
  /** Scoring requests running at once. @default 2 */
  maxConcurrent?: number;
  /** Scoring requests waiting for a slot; more are refused with 503 `busy`. @default 16 */
  maxQueue?: number;
  /** Time from a request's arrival to its answer: 503 `timeout` while queued, 504 once running. @default 30000 */
  timeoutMs?: number;
  /** Largest request body. @default 20 MiB */
  maxBodyBytes?: number;
  /**
   * Bytes of request bodies held at once by all scoring requests: each reserves its `Content-Length` (a
   * chunked one `maxBodyBytes`) before its body is read and keeps it until its work ends; one that does not fit
   * is answered 503 `busy` with `Retry-After` without being read. At least `maxBodyBytes`.
   * @default the larger of 64 MiB and 2 x `maxBodyBytes`
   */
  maxInflightBytes?: number;
  /**
   * Most bytes an image may decode to (width x height x channels x bytes per sample), checked from its
   * header; more is 400 `bad_image` naming the limit. @default 64 MiB
   */
  maxDecodedBytes?: number;
  /** Largest side of heatmap PNGs. @default 512 */
  heatmapMaxSize?: number;
  /** Let `/metrics` be read without the key. @default false */
  openMetrics?: boolean;
  /** Metrics to record into (share one between handlers). @default a new {@linkcode ScoringMetrics} */
  metrics?: ScoringMetrics;
  /** Log sink. @default one JSON line per entry to stderr */
  log?: (entry: ScoringLogEntry) => void;
}

const ROUTES: Record<string, { route: MetricRoute; methods: string[] }> = {
  "/": { route: "/", methods: ["GET", "HEAD"] },
  "/score": { route: "/score", methods: ["POST"] },
  "/model": { route: "/model", methods: ["GET", "HEAD"] },
  "/healthz": { route: "/healthz", methods: ["GET", "HEAD"] },
  "/readyz": { route: "/readyz", methods: ["GET", "HEAD"] },
  "/metrics": { route: "/metrics", methods: ["GET", "HEAD"] },
};

function _json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

function _digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

/**
 * `GET /model`: the model card (rendered from the bundle's metadata, so it never disagrees with what is
 * served), or with `?format=json` the metadata itself. Nothing in either is secret (weight URLs are stored
 * without their query string); both pass through the secret redaction anyway.
 */
function modelResponse(p: Predictor, url: URL): Response {
  const format = url.searchParams.get("format") ?? "markdown";
  if (format === "json") {
    const text = redactSecrets(JSON.stringify(p.metadata));
    return new Response(text, { headers: { "content-type": "application/json; charset=utf-8" } });
  }
  if (format !== "markdown" && format !== "md") {
    throw new ScoreHttpError(
      400,
      "bad_request",
      `Unknown format "${format.slice(0, 40)}"; expected markdown or json`,
    );
  }
  return new Response(redactSecrets(modelCard(p.metadata)), {
    headers: { "content-type": "text/markdown; charset=utf-8" },
  });
}

/**
 * Builds the scoring service's `fetch` handler.
 *
 * @param predictor the model runner, or a promise of it: until it resolves `/readyz` and `/score` answer
 * 503 `not_ready` (the server listens before the model loads so probes get answers).
 * @param options key, limits, metrics and log sink.
 * @returns the handler; it never throws (every failure is an error document).
 * @throws {RangeError} for invalid limits.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, openPredictor, saveBundle, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync();
 * await saveBundle(createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 }), dir);
 * const predictor = await openPredictor(dir, { engine: "tfjs" });
 * const handler = createScoringHandler(predictor, { key: "s3cret-key-123", log: () => {} });
 * assert.equal((await handler(new Request("http://x/healthz"))).status, 200);
 * const denied = await handler(new Request("http://x/score", { method: "POST", body: "x" }));
 * assert.equal(denied.status, 401);
 * assert.equal(denied.headers.get("cache-control"), "no-store");
 * assert.equal((await denied.json()).error.code, "unauthorized");
 * await predictor.dispose();
 * ```
 */
export function createScoringHandler(
  predictor: Predictor | Promise<Predictor>,
  options: ScoringHandlerOptions = {},
): ScoringHandler {
  const limiter = new ConcurrencyLimiter({
    maxConcurrent: options.maxConcurrent,
    maxQueue: options.maxQueue,
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const maxBodyBytes = options.maxBodyBytes ?? 20 * 1048576;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`createScoringHandler: timeoutMs must be > 0, got ${timeoutMs}`);
  }
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new RangeError(`createScoringHandler: maxBodyBytes must be an integer >= 1, got ${maxBodyBytes}`);
  }
  const maxInflightBytes = options.maxInflightBytes ?? Math.max(64 * 1048576, 2 * maxBodyBytes);
  if (!(maxInflightBytes >= maxBodyBytes)) {
    throw new RangeError(
      `createScoringHandler: maxInflightBytes (${maxInflightBytes}) must be at least maxBodyBytes ` +
        `(${maxBodyBytes}), or a body at the limit could never be admitted`,
    );
  }
  const budget = new ByteBudget(maxInflightBytes);
  const busy = (e: QueueFullError | BudgetFullError) =>
    new ScoreHttpError(503, "busy", e.message, { headers: { "retry-after": "1" }, cause: e });
  const metrics = options.metrics ?? new ScoringMetrics();
  const log = options.log ?? ((e: ScoringLogEntry) => console.error(JSON.stringify(e)));
  const key = options.key == null
    ? null
    : typeof options.key === "string"
    ? options.key
    : options.key.reveal();
  const keyDigest = key === null ? null : _digest(key);

  let ready: Predictor | null = null;
  let loadError: string | null = null;
  const onReady = (p: Predictor) => {
    ready = p;
    const arch = p.metadata.architecture?.name;
    metrics.setModel({
      name: typeof arch === "string" ? arch : "densenet",
      version: p.metadata.modelVersion,
      engine: p.engine,
    });
  };
  if (predictor instanceof Promise) {
    predictor.then(onReady, (e) => {
      loadError = redactSecrets(String((e as Error)?.message ?? e));
    });
  } else {
    onReady(predictor);
  }

  const authorize = (req: Request) => {
    if (keyDigest === null) return;
    const header = req.headers.get("authorization") ?? "";
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!m || !timingSafeEqual(_digest(m[1]), keyDigest)) {
      throw new ScoreHttpError(
        401,
        "unauthorized",
        m ? "The key is wrong" : "Send the key as an Authorization: Bearer <key> header",
        { headers: { "www-authenticate": 'Bearer realm="cxr-scoring"' } },
      );
    }
  };

  let open = 0;
  let draining = false;
  let idle: PromiseWithResolvers<void> | null = null;
  const notReady = () =>
    new ScoreHttpError(
      503,
      "not_ready",
      draining
        ? "The service is shutting down"
        : loadError
        ? `The model could not be loaded: ${loadError}`
        : "The model is still loading",
      { headers: { "retry-after": "5" } },
    );

  const score = async (req: Request, url: URL): Promise<Response> => {
    authorize(req);
    const contentType = req.headers.get("content-type");
    scoreMediaType(contentType);
    const p = ready;
    if (!p) throw notReady();
    // Admission, before a byte of the body is read: a full queue, or a body that does not fit the budget.
    if (limiter.full) throw busy(new QueueFullError(limiter.running, limiter.queued));
    let reservation: ByteReservation;
    try {
      reservation = budget.reserve(bodyReservation(req, maxBodyBytes));
    } catch (e) {
      throw e instanceof BudgetFullError ? busy(e) : e;
    }
    const controller = new AbortController();
    let running = false;
    const timer = setTimeout(() => {
      controller.abort(
        running
          ? new ScoreHttpError(504, "timeout", `Scoring took longer than ${timeoutMs} ms`)
          : new ScoreHttpError(503, "timeout", `The request waited longer than ${timeoutMs} ms`, {
            headers: { "retry-after": "1" },
          }),
      );
    }, timeoutMs);
    const timedOut = new Promise<never>((_, reject) => {
      controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
    });
    const work = (async () => {
      try {
        let body: Uint8Array | null = await readBody(req, maxBodyBytes, { signal: controller.signal });
        const parsed = parseScoreRequest(body, contentType, {
          query: url.searchParams,
          classNames: p.metadata.classNames,
        });
        body = null; // a JSON body's text is not needed past its decoded image
        return await limiter.run(() => {
          running = true;
          return scoreImage(p, parsed, {
            heatmapMaxSize: options.heatmapMaxSize,
            maxDecodedBytes: options.maxDecodedBytes,
          });
        }, controller.signal);
      } catch (e) {
        throw e instanceof QueueFullError ? busy(e) : e;
      } finally {
        reservation.release(); // the body and image are let go only once the work ends, even after a timeout
      }
    })();
    work.catch(() => {}); // a timed-out request's work may still fail later
    try {
      return _json(200, await Promise.race([work, timedOut]));
    } finally {
      clearTimeout(timer);
      controller.abort(); // cancels a body still being read; no-op otherwise
    }
  };

  const route = async (req: Request, url: URL, path: string): Promise<Response> => {
    switch (path) {
      case "/score":
        open++;
        try {
          return await score(req, url);
        } finally {
          if (--open === 0) idle?.resolve();
        }
      case "/model": {
        const p = ready as Predictor | null;
        if (!p) throw notReady();
        return modelResponse(p, url);
      }
      case "/healthz":
        return _json(200, { status: "ok" });
      case "/readyz": {
        const p = ready as Predictor | null;
        if (!p || draining) throw notReady();
        return _json(200, { status: "ready", engine: p.engine, modelVersion: p.metadata.modelVersion });
      }
      case "/metrics":
        if (!options.openMetrics) authorize(req);
        return new Response(
          metrics.render({
            inFlight: limiter.running,
            queued: limiter.queued,
            open,
            bodyBytes: budget.used,
            bodyBytesLimit: budget.limit,
          }),
          {
            headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          },
        );
      default:
        return scoringPageResponse();
    }
  };

  const handler = async (req: Request): Promise<Response> => {
    const started = performance.now();
    const url = new URL(req.url);
    const given = req.headers.get("x-request-id");
    const id = given && /^[\w.-]{1,64}$/.test(given) ? given : crypto.randomUUID();
    const known = Object.hasOwn(ROUTES, url.pathname) ? ROUTES[url.pathname] : undefined;
    let response: Response;
    let error: string | undefined;
    let code: string | undefined;
    try {
      if (!known) throw new ScoreHttpError(404, "not_found", `No route ${url.pathname.slice(0, 100)}`);
      if (!known.methods.includes(req.method)) {
        throw new ScoreHttpError(
          405,
          "bad_request",
          `Method ${req.method} is not allowed on ${url.pathname}; allowed: ${known.methods.join(", ")}`,
          { headers: { allow: known.methods.join(", ") } },
        );
      }
      response = await route(req, url, url.pathname);
    } catch (e) {
      if (e instanceof ScoreHttpError) {
        response = _json(e.status, e.toJSON(), e.headers);
        code = e.code;
      } else {
        code = "internal";
        error = redactSecrets(`${(e as Error)?.name ?? "Error"}: ${(e as Error)?.message ?? e}`).slice(
          0,
          500,
        );
        response = _json(500, {
          error: { status: 500, code: "internal", message: `Internal error (request ${id})` },
        });
      }
    }
    if (req.body && !req.bodyUsed) {
      // Answered without reading the body (refused before admission: 401, 413, 415, 503 busy): close the
      // connection rather than keep it for a next request behind an upload nobody wants (measured under
      // Deno.serve: 64 refused 19 MB uploads took the service from 326 to 588 MiB; 369 with this). The server
      // throws the rest of the body away as it arrives before it closes, so the client still reads the answer.
      response.headers.set("connection", "close");
    }
    if (req.method === "HEAD") response = new Response(null, response);
    response.headers.set("x-request-id", id);
    if (known?.route === "/score") response.headers.set("cache-control", "no-store"); // health data
    const seconds = (performance.now() - started) / 1000;
    metrics.observe(known?.route ?? "other", response.status, seconds, code);
    log({
      time: new Date().toISOString(),
      level: response.status >= 500 ? "error" : response.status >= 400 ? "warn" : "info",
      msg: "request",
      id,
      method: req.method,
      route: known?.route ?? "other",
      status: response.status,
      ms: Math.round(seconds * 10000) / 10,
      ...(code ? { code } : {}),
      ...(error ? { error } : {}),
    });
    return response;
  };
  return Object.defineProperties(handler, {
    open: { get: () => open },
    drain: {
      value: () => {
        draining = true;
        if (open === 0) return Promise.resolve();
        idle ??= Promise.withResolvers<void>();
        return idle.promise;
      },
    },
  }) as ScoringHandler;
}
