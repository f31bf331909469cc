// `POST /score` for the scoring handler (lib/serve/handler.ts): admission before a byte of the body is read,
// then the body read, parsed and scored in the queue, all within the request's time limit.
import type { Predictor } from "../model/mod.ts";
import { BudgetFullError, type ByteReservation, QueueFullError } from "./limiter.ts";
import { bodyReservation, readBody } from "./_read_body.ts";
import { parseScoreRequest, ScoreHttpError, scoreMediaType } from "./score_format.ts";
import { scoreImage } from "./score_image.ts";
import { busy, json, type ScoringState } from "./_handler_state.ts";

/**
 * Scores one request within `timeoutMs` of its arrival: 503 `timeout` while it waits for a slot, 504 once it
 * runs. Its reservation is let go only when its work ends, even after a timeout.
 */
export async function scoreRequest(state: ScoringState, req: Request, url: URL): Promise<Response> {
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
