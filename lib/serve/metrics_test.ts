import assert from "node:assert/strict";
import { ScoringMetrics } from "./metrics.ts";

Deno.test("ScoringMetrics: prom-client's process metrics work under Deno", async () => {
  const text = await new ScoringMetrics().render({ inFlight: 0, queued: 0 });
  const names = [
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "nodejs_eventloop_lag_seconds",
  ];
  for (const name of names) {
    assert.match(text, new RegExp(`^${name} [0-9.e+-]+$`, "m"), name);
  }
});

Deno.test("ScoringMetrics: each instance has its own series; absent gauges are left out; labels escaped", async () => {
  const a = new ScoringMetrics();
  const b = new ScoringMetrics();
  a.observe("/score", 200, 0.01);
  a.setModel({ name: 'x"y\\z', version: "v\n2", engine: "tfjs" });
  a.setModel({ name: "densenet", version: "v3", engine: "onnx" });
  const textA = await a.render({ inFlight: 2, queued: 1 });
  const textB = await b.render({ inFlight: 0, queued: 0, open: 5 });
  assert.match(textA, /^cxr_requests_total\{route="\/score",status="200"\} 1$/m);
  assert.match(textA, /^cxr_request_duration_seconds_count\{route="\/score"\} 1$/m);
  assert.match(textA, /^cxr_score_requests_open 3$/m);
  assert.match(textA, /^cxr_model_ready 1$/m);
  assert.doesNotMatch(textA, /^cxr_request_body_bytes/m);
  assert.equal(textA.match(/^cxr_model_info\{/gm)?.length, 1); // the last model only
  assert.doesNotMatch(textB, /^cxr_requests_total\{/m);
  assert.match(textB, /^cxr_score_requests_open 5$/m);
  assert.match(textB, /^cxr_model_ready 0$/m);
  const c = new ScoringMetrics();
  c.setModel({ name: 'x"y\\z', version: "v\n2", engine: "tfjs" });
  assert.match(
    await c.render({ inFlight: 0, queued: 0 }),
    /^cxr_model_info\{name="x\\"y\\\\z",version="v\\n2",engine="tfjs"\} 1$/m,
  );
});
