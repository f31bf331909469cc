// The scoring handler's routes (lib/serve/handler.ts): which paths and methods exist, the request id, and the
// answer of each route.
import { redactSecrets } from "../secrets.ts";
import { modelCard, type Predictor } from "../model/mod.ts";
import type { MetricRoute } from "./metrics.ts";
import { scoringPageResponse } from "./page.ts";
import { ScoreHttpError } from "./score_format.ts";
import { scoreRequest } from "./_handler_score.ts";
import { json, type ScoringState } from "./_handler_state.ts";

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
