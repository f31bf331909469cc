/**
 * The scoring service's Prometheus metrics, rendered in the text exposition format (0.0.4): requests by
 * route and status, a request latency histogram by route, errors by cause, in-flight and queued gauges, and
 * the model's identity as an info gauge, and the request-body bytes held against the in-flight byte budget.
 * A client that closed its connection mid-body is counted with status 499 and code `client_closed`, apart
 * from server errors.
 *
 * @module
 */

/** Upper bounds (seconds) of the latency histogram's buckets. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** Routes the metrics name; anything else is counted as `other` (bounded label values). */
export const METRIC_ROUTES = ["/", "/score", "/model", "/healthz", "/readyz", "/metrics", "other"] as const;
/** One of {@linkcode METRIC_ROUTES}. */
export type MetricRoute = typeof METRIC_ROUTES[number];

function _label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function _number(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN";
}

/**
 * Counters, histogram and gauges of one scoring service.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const m = new ScoringMetrics();
 * m.setModel({ name: "densenet", version: "v1", engine: "onnx" });
 * m.observe("/score", 200, 0.2);
 * m.observe("/score", 413, 0.001, "too_large");
 * m.observe("/score", 499, 0.5, "client_closed");
 * const text = m.render({ inFlight: 1, queued: 0, bodyBytes: 1024, bodyBytesLimit: 67108864 });
 * assert.match(text, /^cxr_requests_total\{route="\/score",status="200"\} 1$/m);
 * assert.match(text, /^cxr_request_duration_seconds_bucket\{route="\/score",le="0\.1"\} 1$/m);
 * assert.match(text, /^cxr_request_duration_seconds_bucket\{route="\/score",le="\+Inf"\} 3$/m);
 * assert.match(text, /^cxr_errors_total\{code="client_closed"\} 1$/m);
 * assert.match(text, /^cxr_request_body_bytes_in_flight 1024$/m);
 * assert.match(text, /^cxr_request_body_bytes_limit 67108864$/m);
 * assert.match(text, /^cxr_errors_total\{code="too_large"\} 1$/m);
 * assert.match(text, /^cxr_model_info\{name="densenet",version="v1",engine="onnx"\} 1$/m);
 * ```
 */
export class ScoringMetrics {
  #requests = new Map<string, number>();
  #errors = new Map<string, number>();
  #histograms = new Map<MetricRoute, { counts: number[]; sum: number; count: number }>();
  #model: { name: string; version: string; engine: string } | null = null;
  #started = Date.now();

  /** Records the model once it is loaded. */
  setModel(model: { name: string; version: string; engine: string }): void {
    this.#model = { ...model };
  }

  /**
   * Records one finished request.
   *
   * @param route the matched route (`other` for unknown paths).
   * @param status the HTTP status answered.
   * @param seconds time from arrival to answer.
   * @param code the error code, for non-2xx answers.
   */
  observe(route: MetricRoute, status: number, seconds: number, code?: string): void {
    const key = `route="${_label(route)}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    if (code) this.#errors.set(code, (this.#errors.get(code) ?? 0) + 1);
    let h = this.#histograms.get(route);
    if (!h) this.#histograms.set(route, h = { counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 });
    LATENCY_BUCKETS.forEach((le, i) => {
      if (seconds <= le) h.counts[i]++;
    });
    h.sum += seconds;
    h.count++;
  }

  /** Requests recorded so far for a route and status (for tests and summaries). */
  requests(route: MetricRoute, status: number): number {
    return this.#requests.get(`route="${_label(route)}",status="${status}"`) ?? 0;
  }

  /**
   * The metrics as Prometheus text.
   *
   * @param gauges scoring requests running, waiting for a slot, and open in all (reading their body too);
   * request-body bytes reserved from the in-flight budget, and its limit (both left out when absent).
   */
  render(
    gauges: { inFlight: number; queued: number; open?: number; bodyBytes?: number; bodyBytesLimit?: number },
  ): string {
    const lines: string[] = [
      "# HELP cxr_requests_total Requests answered, by route and HTTP status.",
      "# TYPE cxr_requests_total counter",
    ];
    for (const [labels, n] of this.#requests) lines.push(`cxr_requests_total{${labels}} ${n}`);
    lines.push(
      "# HELP cxr_request_duration_seconds Time from a request's arrival to its answer.",
      "# TYPE cxr_request_duration_seconds histogram",
    );
    for (const [route, h] of this.#histograms) {
      const r = _label(route);
      LATENCY_BUCKETS.forEach((le, i) => {
        lines.push(`cxr_request_duration_seconds_bucket{route="${r}",le="${_number(le)}"} ${h.counts[i]}`);
      });
      lines.push(
        `cxr_request_duration_seconds_bucket{route="${r}",le="+Inf"} ${h.count}`,
        `cxr_request_duration_seconds_sum{route="${r}"} ${_number(h.sum)}`,
        `cxr_request_duration_seconds_count{route="${r}"} ${h.count}`,
      );
    }
    lines.push(
      "# HELP cxr_errors_total Error answers, by cause (the error document's code).",
      "# TYPE cxr_errors_total counter",
    );
    for (const [code, n] of this.#errors) lines.push(`cxr_errors_total{code="${_label(code)}"} ${n}`);
    lines.push(
      "# HELP cxr_requests_in_flight Scoring requests running now.",
      "# TYPE cxr_requests_in_flight gauge",
      `cxr_requests_in_flight ${gauges.inFlight}`,
      "# HELP cxr_requests_queued Scoring requests waiting for a slot.",
      "# TYPE cxr_requests_queued gauge",
      `cxr_requests_queued ${gauges.queued}`,
      "# HELP cxr_score_requests_open Scoring requests received and not yet answered (reading, queued, running).",
      "# TYPE cxr_score_requests_open gauge",
      `cxr_score_requests_open ${gauges.open ?? gauges.inFlight + gauges.queued}`,
      ...(gauges.bodyBytes === undefined ? [] : [
        "# HELP cxr_request_body_bytes_in_flight Request-body bytes reserved by scoring requests in flight.",
        "# TYPE cxr_request_body_bytes_in_flight gauge",
        `cxr_request_body_bytes_in_flight ${gauges.bodyBytes}`,
      ]),
      ...(gauges.bodyBytesLimit === undefined ? [] : [
        "# HELP cxr_request_body_bytes_limit The in-flight byte budget; a body past it is answered 503 busy.",
        "# TYPE cxr_request_body_bytes_limit gauge",
        `cxr_request_body_bytes_limit ${gauges.bodyBytesLimit}`,
      ]),
      "# HELP cxr_model_ready 1 once the model is loaded.",
      "# TYPE cxr_model_ready gauge",
      `cxr_model_ready ${this.#model ? 1 : 0}`,
      "# HELP cxr_process_start_time_seconds Start time of the service, Unix seconds.",
      "# TYPE cxr_process_start_time_seconds gauge",
      `cxr_process_start_time_seconds ${Math.floor(this.#started / 1000)}`,
    );
    if (this.#model) {
      const { name, version, engine } = this.#model;
      lines.push(
        "# HELP cxr_model_info The model being served.",
        "# TYPE cxr_model_info gauge",
        `cxr_model_info{name="${_label(name)}",version="${_label(version)}",engine="${_label(engine)}"} 1`,
      );
    }
    return lines.join("\n") + "\n";
  }
}
