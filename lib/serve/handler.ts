/**
 * The scoring service as one `fetch` function (`(req: Request) => Promise<Response>`, hono style): only the
 * server puts it on a socket; tests call the handler with real `Request`s.
 *
 * Routes: `POST /score`; `GET /model` (the model card as Markdown, `?format=json` the bundle metadata);
 * `GET /healthz` (alive), `GET /readyz` (model loaded), `GET /metrics` (Prometheus text), `GET /` (an upload
 * page). With a key configured, `/score` and `/metrics` need `Authorization: Bearer <key>`; `/model`,
 * `/healthz`, `/readyz` and the page are open (the page asks for the key): what a model is and what it must
 * not be used for is for anyone who can reach it to read.
 *
 * Memory is bounded before work is admitted (`maxInflightBytes`, `maxQueue`, `maxBodyBytes`,
 * `maxDecodedBytes`: each option says how).
 *
 * @module
 */
import { redactSecrets, Secret } from "../secrets.ts";
import type { Predictor } from "../model/mod.ts";
import { ByteBudget, ConcurrencyLimiter } from "./limiter.ts";
import { type MetricRoute, ScoringMetrics } from "./metrics.ts";
import { ScoreHttpError } from "./score_format.ts";
import { json, type Limits, ScoringState } from "./_handler_state.ts";
import { answerRoute, findRoute, requestId } from "./_routes.ts";

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
   * chunked one `maxBodyBytes`) before its body is read, until its work ends; one that does not fit is
   * answered 503 `busy` with `Retry-After`. At least `maxBodyBytes`.
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

/**
 * Builds the scoring service's `fetch` handler.
 *
 * @param predictor the model runner, or a promise of it: until it resolves `/readyz` and `/score` answer
 * 503 `not_ready` (the server listens before the model loads so probes get answers).
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
  const limiter = new ConcurrencyLimiter(options); // maxConcurrent, maxQueue
  const limits = checkLimits(options);
  const metrics = options.metrics ?? new ScoringMetrics();
  const log = options.log ?? ((e: ScoringLogEntry) => console.error(JSON.stringify(e)));
  const key = options.key instanceof Secret ? options.key.reveal() : options.key ?? null;
  const state = new ScoringState(limiter, new ByteBudget(limits.maxInflightBytes), metrics, limits, key);
  const onReady = (p: Predictor) => {
    state.ready = p;
    const arch = p.metadata.architecture?.name;
    const name = typeof arch === "string" ? arch : "densenet";
    metrics.setModel({ name, version: p.metadata.modelVersion, engine: p.engine });
  };
  if (predictor instanceof Promise) {
    predictor.then(onReady, (e) => {
      state.loadError = redactSecrets(String((e as Error)?.message ?? e));
    });
  } else {
    onReady(predictor);
  }

  const handler = async (req: Request): Promise<Response> => {
    const started = performance.now();
    const url = new URL(req.url);
    const id = requestId(req);
    const route = findRoute(url.pathname);
    let answer: { response: Response; code?: string; error?: string };
    try {
      answer = { response: await answerRoute(state, req, url, route) };
    } catch (e) {
      answer = errorResponse(e, id);
    }
    const response = finishResponse(req, answer.response, id, route);
    const { code, error } = answer;
    const seconds = (performance.now() - started) / 1000;
    metrics.observe(route, response.status, seconds, code);
    log({
      time: new Date().toISOString(),
      level: response.status >= 500 ? "error" : response.status >= 400 ? "warn" : "info",
      msg: "request",
      id,
      method: req.method,
      route,
      status: response.status,
      ms: Math.round(seconds * 10000) / 10,
      ...(code ? { code } : {}),
      ...(error ? { error } : {}),
    });
    return response;
  };
  return Object.defineProperties(handler, {
    open: { get: () => state.open },
    drain: { value: () => state.drain() },
  }) as ScoringHandler;
}

/** The limits of `options`, defaults filled in. @throws {RangeError} for invalid ones. */
function checkLimits(options: ScoringHandlerOptions): Limits & { maxInflightBytes: number } {
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
  return {
    timeoutMs,
    maxBodyBytes,
    maxInflightBytes,
    heatmapMaxSize: options.heatmapMaxSize,
    maxDecodedBytes: options.maxDecodedBytes,
    openMetrics: options.openMetrics ?? false,
  };
}

/**
 * A thrown error as its answer: a {@linkcode ScoreHttpError} as its error document; anything else as a generic
 * 500 naming the request, its details (secrets redacted) for the log only.
 */
function errorResponse(e: unknown, id: string): { response: Response; code: string; error?: string } {
  if (e instanceof ScoreHttpError) return { response: json(e.status, e.toJSON(), e.headers), code: e.code };
  return {
    response: json(500, {
      error: { status: 500, code: "internal", message: `Internal error (request ${id})` },
    }),
    code: "internal",
    error: redactSecrets(`${(e as Error)?.name ?? "Error"}: ${(e as Error)?.message ?? e}`).slice(0, 500),
  };
}

/** The headers every answer gets: the request id, `no-store` on scores, and `Connection: close` when unread. */
function finishResponse(req: Request, response: Response, id: string, route: MetricRoute): Response {
  if (req.body && !req.bodyUsed) {
    // Answered without reading the body (401, 413, 415, 503 busy): close the connection rather than keep
    // it for a next request behind an upload nobody wants (64 refused 19 MB uploads: 588 MiB kept alive,
    // 369 closed).
    response.headers.set("connection", "close");
  }
  if (req.method === "HEAD") response = new Response(null, response);
  response.headers.set("x-request-id", id);
  if (route === "/score") response.headers.set("cache-control", "no-store"); // health data
  return response;
}
