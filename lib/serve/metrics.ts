/**
 * The scoring service's Prometheus metrics, with `prom-client`: requests by route and status, a request latency
 * histogram by route, errors by cause, in-flight and queued gauges, the request-body bytes held against the
 * in-flight byte budget, the model's identity as an info gauge, and the process metrics `prom-client` collects
 * (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `nodejs_eventloop_lag_seconds`, ...).
 *
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** Upper bounds (seconds) of the latency histogram's buckets. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** Routes the metrics name; anything else is counted as `other` (bounded label values). */
export const METRIC_ROUTES = ["/", "/score", "/model", "/healthz", "/readyz", "/metrics", "other"] as const;
/** One of {@linkcode METRIC_ROUTES}. */
export type MetricRoute = typeof METRIC_ROUTES[number];

/** The gauges {@linkcode ScoringMetrics.render} sets: metric name and help text. */
const GAUGES = {
  cxr_requests_in_flight: "Scoring requests running now.",
  cxr_requests_queued: "Scoring requests waiting for a slot.",
  cxr_score_requests_open: "Scoring requests received and not yet answered (reading, queued, running).",
  cxr_request_body_bytes_in_flight: "Request-body bytes reserved by scoring requests in flight.",
  cxr_request_body_bytes_limit: "The in-flight byte budget; a body past it is answered 503 busy.",
  cxr_model_ready: "1 once the model is loaded.",
  cxr_process_start_time_seconds: "Start time of the service, Unix seconds.",
} as const;

/**
 * Counters, histogram and gauges of one scoring service, in a registry of its own (so that handlers in one
 * process do not share series).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const m = new ScoringMetrics();
 * m.setModel({ name: "densenet", version: "v1", engine: "onnx" });
 * m.observe("/score", 200, 0.2);
 * m.observe("/score", 413, 0.001, "too_large");
 * m.observe("/score", 499, 0.5, "client_closed");
 * const text = await m.render({ inFlight: 1, queued: 0, bodyBytes: 1024, bodyBytesLimit: 67108864 });
 * assert.match(text, /^cxr_requests_total\{route="\/score",status="200"\} 1$/m);
 * assert.match(text, /^cxr_request_duration_seconds_bucket\{le="0\.1",route="\/score"\} 1$/m);
 * assert.match(text, /^cxr_request_duration_seconds_bucket\{le="\+Inf",route="\/score"\} 3$/m);
 * assert.match(text, /^cxr_errors_total\{code="client_closed"\} 1$/m);
 * assert.match(text, /^cxr_request_body_bytes_in_flight 1024$/m);
 * assert.match(text, /^cxr_request_body_bytes_limit 67108864$/m);
 * assert.match(text, /^cxr_errors_total\{code="too_large"\} 1$/m);
 * assert.match(text, /^cxr_model_info\{name="densenet",version="v1",engine="onnx"\} 1$/m);
 * assert.match(text, /^process_resident_memory_bytes \d+$/m);
 * ```
 */
export class ScoringMetrics {
  /** The `prom-client` registry the metrics live in. */
  readonly registry: Registry = new Registry();
  #requests = new Counter({
    name: "cxr_requests_total",
    help: "Requests answered, by route and HTTP status.",
    labelNames: ["route", "status"],
    registers: [this.registry],
  });
  #latency = new Histogram({
    name: "cxr_request_duration_seconds",
    help: "Time from a request's arrival to its answer.",
    labelNames: ["route"],
    buckets: [...LATENCY_BUCKETS],
    registers: [this.registry],
  });
  #errors = new Counter({
    name: "cxr_errors_total",
    help: "Error answers, by cause (the error document's code).",
    labelNames: ["code"],
    registers: [this.registry],
  });
  #gauges = new Map<keyof typeof GAUGES, Gauge>();
  #model = new Gauge({
    name: "cxr_model_info",
    help: "The model being served.",
    labelNames: ["name", "version", "engine"],
    registers: [this.registry],
  });
  #ready = false;
  #started = Math.floor(Date.now() / 1000);

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Records the model once it is loaded. */
  setModel(model: { name: string; version: string; engine: string }): void {
    this.#model.reset();
    this.#model.set({ name: model.name, version: model.version, engine: model.engine }, 1);
    this.#ready = true;
  }

  /**
   * Records one finished request.
   *
   * @param route the matched route (`other` for unknown paths).
   * @param seconds time from arrival to answer.
   * @param code the error code, for non-2xx answers.
   */
  observe(route: MetricRoute, status: number, seconds: number, code?: string): void {
    this.#requests.inc({ route, status });
    this.#latency.observe({ route }, seconds);
    if (code) this.#errors.inc({ code });
  }

  /**
   * The metrics as Prometheus text (format 0.0.4).
   *
   * @param gauges scoring requests running, waiting for a slot, and open in all (reading their body too);
   * request-body bytes reserved from the in-flight budget, and its limit (both left out when absent).
   */
  render(
    gauges: { inFlight: number; queued: number; open?: number; bodyBytes?: number; bodyBytesLimit?: number },
  ): Promise<string> {
    this.#set("cxr_requests_in_flight", gauges.inFlight);
    this.#set("cxr_requests_queued", gauges.queued);
    this.#set("cxr_score_requests_open", gauges.open ?? gauges.inFlight + gauges.queued);
    this.#set("cxr_request_body_bytes_in_flight", gauges.bodyBytes);
    this.#set("cxr_request_body_bytes_limit", gauges.bodyBytesLimit);
    this.#set("cxr_model_ready", this.#ready ? 1 : 0);
    this.#set("cxr_process_start_time_seconds", this.#started);
    return this.registry.metrics();
  }

  /** Sets a gauge, registering it the first time it has a value. */
  #set(name: keyof typeof GAUGES, value: number | undefined): void {
    if (value === undefined) return;
    let gauge = this.#gauges.get(name);
    if (!gauge) {
      this.#gauges.set(name, gauge = new Gauge({ name, help: GAUGES[name], registers: [this.registry] }));
    }
    gauge.set(value);
  }
}
