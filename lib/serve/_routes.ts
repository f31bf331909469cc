// The scoring handler's routes (lib/serve/handler.ts): which paths and methods exist, the request id, and the
// answer of each route. `POST /score` is admitted before a byte of its body is read, then its body is read,
// parsed and scored in the queue, all within the request's time limit.
import { redactSecrets } from "../secrets.ts";
import { modelCard, type Predictor } from "../model/mod.ts";
import { BudgetFullError, type ByteReservation, QueueFullError } from "./limiter.ts";
import type { MetricRoute } from "./metrics.ts";
import { scoringPageResponse } from "./page.ts";
import { parseScoreRequest, ScoreHttpError, scoreMediaType } from "./score_format.ts";
import { scoreImage } from "./score_image.ts";
import { bodyReservation, readBody } from "./_read_body.ts";
import { busy, json, type ScoringState } from "./_handler_state.ts";

const READ = ["GET", "HEAD"];

/** The methods each route answers; a route's path is its label in metrics and logs. */
const METHODS: Record<string, string[]> = {
  "/": READ,
  "/score": ["POST"],
  "/model": READ,
  "/healthz": READ,
  "/readyz": READ,
  "/metrics": READ,
};

/** The route of `path`, or `other`. */
export function findRoute(path: string): MetricRoute {
  return Object.hasOwn(METHODS, path) ? path as MetricRoute : "other";
}

/** The client's `X-Request-Id` when it is a short token, else a new UUID. */
export function requestId(req: Request): string {
  const given = req.headers.get("x-request-id");
  return given && /^[\w.-]{1,64}$/.test(given) ? given : crypto.randomUUID();
}

/**
 * Answers `req` on `route`.
 *
 * @throws {ScoreHttpError} 404 for no route, 405 for a method the route does not answer, and what the route
 * refuses.
 */
export async function answerRoute(
  state: ScoringState,
  req: Request,
  url: URL,
  route: MetricRoute,
): Promise<Response> {
  if (route === "other") throw new ScoreHttpError(`No route ${url.pathname.slice(0, 100)}`, 404, "not_found");
  const methods = METHODS[route]!; // every route but other has its methods
  if (!methods.includes(req.method)) {
    const allowed = methods.join(", ");
    throw new ScoreHttpError(
      `Method ${req.method} is not allowed on ${url.pathname}; allowed: ${allowed}`,
      405,
      "bad_request",
      { headers: { allow: allowed } },
    );
  }
  switch (route) {
    case "/score":
      return await state.track(() => scoreRequest(state, req, url));
    case "/model": {
      const p = state.ready;
      if (!p) throw state.notReady();
      return modelResponse(p, url);
    }
    case "/healthz":
      return json(200, { status: "ok" });
    case "/readyz": {
      const p = state.ready;
      if (!p || state.draining) throw state.notReady();
      return json(200, { status: "ready", engine: p.engine, modelVersion: p.metadata.modelVersion });
    }
    case "/metrics": {
      const { metrics, limiter, open, budget } = state;
      if (!state.limits.openMetrics) state.authorize(req);
      const text = await metrics.render({
        inFlight: limiter.running,
        queued: limiter.queued,
        open,
        bodyBytes: budget.used,
        bodyBytesLimit: budget.limit,
      });
      return new Response(text, { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
    }
    default:
      return scoringPageResponse();
  }
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
      `Unknown format "${format.slice(0, 40)}"; expected markdown or json`,
      400,
      "bad_request",
    );
  }
  return new Response(redactSecrets(modelCard(p.metadata)), {
    headers: { "content-type": "text/markdown; charset=utf-8" },
  });
}

/**
 * Scores one request within `timeoutMs` of its arrival: 503 `timeout` while it waits for a slot, 504 once it
 * runs. Its reservation is let go only when its work ends, even after a timeout.
 */
async function scoreRequest(state: ScoringState, req: Request, url: URL): Promise<Response> {
  const { p, contentType, reservation } = admit(state, req);
  const { limiter, limits: { timeoutMs, maxBodyBytes } } = state;
  const controller = new AbortController();
  let running = false;
  const timer = setTimeout(() => {
    controller.abort(
      running
        ? new ScoreHttpError(`Scoring took longer than ${timeoutMs} ms`, 504, "timeout")
        : new ScoreHttpError(`The request waited longer than ${timeoutMs} ms`, 503, "timeout", {
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
          heatmapMaxSize: state.limits.heatmapMaxSize,
          maxDecodedBytes: state.limits.maxDecodedBytes,
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
    return json(200, await Promise.race([work, timedOut]));
  } finally {
    clearTimeout(timer);
    controller.abort(); // cancels a body still being read; no-op otherwise
  }
}

/**
 * Admission, before a byte of the body is read: the key, the media type, a loaded model, room in the queue and
 * the body's size reserved from the byte budget.
 *
 * @throws {ScoreHttpError} 401, 415, 503 `not_ready` or `busy`, 413 for a declared body over the limit.
 */
function admit(
  state: ScoringState,
  req: Request,
): { p: Predictor; contentType: string | null; reservation: ByteReservation } {
  state.authorize(req);
  const contentType = req.headers.get("content-type");
  scoreMediaType(contentType);
  const p = state.ready;
  if (!p) throw state.notReady();
  const { limiter, budget } = state;
  if (limiter.full) throw busy(new QueueFullError(limiter.running, limiter.queued));
  try {
    return { p, contentType, reservation: budget.reserve(bodyReservation(req, state.limits.maxBodyBytes)) };
  } catch (e) {
    throw e instanceof BudgetFullError ? busy(e) : e;
  }
}
