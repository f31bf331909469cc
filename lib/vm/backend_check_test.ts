import assert from "node:assert/strict";
import { type BackendOverview, checkBackends } from "./backend_check.ts";
import { DoctorReport } from "./doctor.ts";
// Tests may cross the layering: the doctor's probe in the CLI and notebook 00 is lib/model's backendReport.
import { BackendReport, backendReport, selectBackend } from "../model/mod.ts";

/** This machine as a CPU box with lavapipe sees it: no libtensorflow, a software adapter, wasm, cpu. */
const CPU_BOX = new BackendReport([
  {
    name: "tensorflow",
    ok: false,
    usable: "no",
    reason: "tfjs-node-gpu, tfjs-node: native addon not built",
    details:
      "npm:@tensorflow/tfjs-node-gpu@4.22.0: The Node.js native addon module (tfjs_binding.node) can " +
      "not be found at path: /work/node_modules/.deno/@tensorflow+tfjs-node-gpu@4.22.0/lib/napi-v8/tfjs_binding.node",
  },
  {
    name: "webgpu",
    ok: true,
    usable: "slow",
    reason: "software adapter llvmpipe: slower than wasm",
    software: true,
  },
  { name: "wasm", ok: true, usable: "yes", reason: "SIMD on" },
  { name: "cpu", ok: true, usable: "yes", reason: "pure JavaScript: tiny models only" },
], "wasm");

Deno.test("backends: a software adapter is named slow and wasm is best, as training would pick", async () => {
  const check = await checkBackends(() => Promise.resolve(CPU_BOX));
  assert.equal(check.status, "warn");
  assert.equal(check.detail, "best: wasm (tensorflow: no, webgpu: slow, wasm: yes, cpu: yes)");
  assert.match(check.fix!, /tensorflow backend/);
  const table = new DoctorReport([check]).toTable();
  assert.match(table, /^Compute backends \(tfjs\):\n {4}backend +usable +why \(not\)$/m);
  assert.match(table, /^ {4}webgpu +slow +software adapter llvmpipe: slower than wasm$/m);
  assert.match(table, /^ {2}\* wasm +yes +SIMD on$/m);
  assert.doesNotMatch(table, /node_modules/);
  assert.match(table, /the full errors: --verbose/);
  const verbose = new DoctorReport([check]).toTable({ verbose: true });
  assert.match(
    verbose,
    /^ {4}npm:@tensorflow\/tfjs-node-gpu@4\.22\.0: The Node\.js native addon .*node_modules/m,
  );
  const html = new DoctorReport([check]).toHtml();
  assert.match(html, /<details><summary>more<\/summary><table>.*<details><summary>tfjs-node-gpu, tfjs-node/);
  const json = JSON.parse(JSON.stringify(new DoctorReport([check])));
  assert.equal(json.checks[0].details.best, "wasm");
  assert.match(json.checks[0].details.tried[0].details, /tfjs_binding\.node/);
});

Deno.test("backends: ok with tensorflow, fail with none, warn when not probed", async () => {
  const only = (best: string | undefined, usable: "yes" | "no"): BackendOverview => ({
    best,
    tried: [{ name: "tensorflow", usable, reason: usable === "yes" ? "tfjs-node-gpu" : "no" }],
    toText: () => "",
    toHtml: () => "",
  });
  const ok = await checkBackends(() => Promise.resolve(only("tensorflow", "yes")));
  assert.deepEqual([ok.status, ok.detail], ["ok", "best: tensorflow (tensorflow: yes)"]);
  const none = await checkBackends(() => Promise.resolve(only(undefined, "no")));
  assert.deepEqual([none.status, none.detail], ["fail", "none loads (tensorflow: no)"]);
  assert.match(none.fix!, /deno install/);
  assert.equal((await checkBackends(undefined)).status, "warn");
});

Deno.test('backends: the doctor\'s best backend on this machine is the one selectBackend("auto") picks', async () => {
  const check = await checkBackends(() => backendReport());
  const auto = await selectBackend("auto");
  assert.match(check.detail, new RegExp(`^best: ${auto.name} \\(`));
  const webgpu = (check.details as BackendReport).tried.find((t) => t.name === "webgpu")!;
  if (webgpu.software) assert.notEqual(auto.name, "webgpu", "a software adapter is not preferred over wasm");
});
