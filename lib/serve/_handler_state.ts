// What the pieces of the scoring handler (lib/serve/handler.ts) share: the limits, the queue and byte budget,
// the model once it is loaded, the scoring requests open, and the checks routes make (the key, readiness).
import { createHash, timingSafeEqual } from "node:crypto";
import type { Predictor } from "../model/mod.ts";
import type { BudgetFullError, ByteBudget, ConcurrencyLimiter, QueueFullError } from "./limiter.ts";
import type { ScoringMetrics } from "./metrics.ts";
import { ScoreHttpError } from "./score_format.ts";

/** The handler's limits, checked. */
export interface Limits {
  timeoutMs: number;
  maxBodyBytes: number;
  heatmapMaxSize: number | undefined;
  maxDecodedBytes: number | undefined;
  openMetrics: boolean;
}

/** One handler's shared state. */
export class ScoringState {
  /** The model, once loaded. */
  ready: Predictor | null = null;
  /** Why the model could not be loaded (secrets redacted). */
  loadError: string | null = null;
  /** Set by `drain()`: `/readyz` answers 503. */
  draining = false;
  #open = 0;
  #idle: PromiseWithResolvers<void> | null = null;
  readonly #keyDigest: Uint8Array | null;

  constructor(
    readonly limiter: ConcurrencyLimiter,
    readonly budget: ByteBudget,
    readonly metrics: ScoringMetrics,
    readonly limits: Limits,
    key: string | null,
  ) {
    this.#keyDigest = key === null ? null : digest(key);
  }

  /** Scoring requests received and not yet answered. */
  get open(): number {
    return this.#open;
  }

  /** Runs one scoring request, counted in {@linkcode open}. */
  async track(f: () => Promise<Response>): Promise<Response> {
    this.#open++;
    try {
      return await f();
    } finally {
      if (--this.#open === 0) this.#idle?.resolve();
    }
  }

  /** Starts draining; settles once no scoring request is open. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.#open === 0) return Promise.resolve();
    this.#idle ??= Promise.withResolvers<void>();
    return this.#idle.promise;
  }

  /** @throws {ScoreHttpError} 401 when a key is configured and `req` does not carry it. */
  authorize(req: Request): void {
    if (this.#keyDigest === null) return;
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.get("authorization") ?? "");
    if (!m || !timingSafeEqual(digest(m[1] ?? ""), this.#keyDigest)) {
      throw new ScoreHttpError(
        m ? "The key is wrong" : "Send the key as an Authorization: Bearer <key> header",
        401,
        "unauthorized",
        { headers: { "www-authenticate": 'Bearer realm="cxr-scoring"' } },
      );
    }
  }

  /** 503 `not_ready`, saying why: shutting down, the model failed to load, or it is still loading. */
  notReady(): ScoreHttpError {
    return new ScoreHttpError(
      this.draining
        ? "The service is shutting down"
        : this.loadError
        ? `The model could not be loaded: ${this.loadError}`
        : "The model is still loading",
      503,
      "not_ready",
      { headers: { "retry-after": "5" } },
    );
  }
}

/** 503 `busy` with `Retry-After` for a full queue or byte budget. */
export function busy(e: QueueFullError | BudgetFullError): ScoreHttpError {
  return new ScoreHttpError(e.message, 503, "busy", { headers: { "retry-after": "1" }, cause: e });
}

/** A JSON answer. */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}
