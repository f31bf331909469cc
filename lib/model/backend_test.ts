// Conformance suite: one set of checks run against every compute backend present, each compared with cpu.
import assert from "node:assert/strict";
import {
  BackendName,
  backendReport,
  BACKENDS,
  BackendUnavailableError,
  bestBackend,
  selectBackend,
} from "./backend.ts";
import { createDenseNet } from "./densenet.ts";
import { tf, tfl } from "./tf.ts";
import { maxRelDiff, seeded, setSeededWeights } from "./_testing.ts";

const SIZE = 32;
const BATCH = 2;

interface Run {
  prediction: Float32Array;
  loss: number;
  grads: Float32Array[];
  leaked: number;
}

function tinyModel(): tfl.LayersModel {
  const model = createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: SIZE });
  setSeededWeights(model, 11);
  return model;
}

function inputs(): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const x = tf.tensor4d(seeded(BATCH * SIZE * SIZE, 5, 0, 255), [BATCH, SIZE, SIZE, 1]);
  const y = tf.tensor2d(Array.from(seeded(BATCH * 14, 6, 0, 1), (v) => (v > 0.6 ? 1 : 0)), [BATCH, 14]);
  return { x, y };
}

function lossFn(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.mean(
    tfl.metrics.binaryCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor),
  ) as tf.Scalar;
}

/** Forward (inference) and one gradient computation (training mode) on the active backend. */
async function run(): Promise<Run> {
  const model = tinyModel();
  const before = tf.memory().numTensors;
  const { x, y } = inputs();
  const out = model.predict(x) as tf.Tensor;
  const prediction = await out.data() as Float32Array;
  const { value, grads } = tf.variableGrads(
    () => lossFn(model, x, y),
    model.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  const loss = (await value.data())[0] ?? NaN;
  const names = model.trainableWeights.map((w) => (w.read() as tf.Variable).name);
  const gradValues = await Promise.all(names.map(async (n) => await grads[n]?.data() as Float32Array));
  tf.dispose([x, y, out, value, ...Object.values(grads)]);
  const leaked = tf.memory().numTensors - before;
  model.dispose();
  return { prediction, loss, grads: gradValues, leaked };
}

const available = new Map<BackendName, string | null>();
for (const name of BACKENDS) {
  try {
    await selectBackend(name);
    available.set(name, null);
  } catch (e) {
    available.set(name, (e as Error).message);
  }
}
await selectBackend("cpu");
const reference = await run();

for (const name of BACKENDS) {
  const why = available.get(name);
  const label = why
    ? `backend conformance [${name}]: skipped, ${why.slice(0, 160)}`
    : `backend conformance [${name}]`;
  Deno.test({
    name: `${label}: tiny DenseNet forward, loss and gradients match cpu, no leaked tensors`,
    ignore: why !== null,
    fn: async () => {
      const chosen = await selectBackend(name);
      assert.equal(chosen.name, name);
      assert.equal(tf.getBackend(), name);
      const actual = await run();
      assert.ok(maxRelDiff(actual.prediction, reference.prediction) < 1e-4, "prediction differs from cpu");
      assert.ok(
        Math.abs(actual.loss - reference.loss) < 1e-4,
        `loss ${actual.loss} vs cpu ${reference.loss}`,
      );
      assert.equal(actual.grads.length, reference.grads.length);
      actual.grads.forEach((g, i) =>
        assert.ok(maxRelDiff(g, reference.grads[i] ?? []) < 1e-3, `gradient ${i} differs`)
      );
      assert.equal(actual.leaked, 0, "tensors leaked");
    },
  });
}

Deno.test({
  name: "backend: an optimizer step on wasm lowers the loss of a tiny DenseNet without leaking tensors" +
    (available.get("wasm") ? `: skipped, ${available.get("wasm")?.slice(0, 160)}` : ""),
  ignore: available.get("wasm") !== null,
  fn: async () => {
    await selectBackend("wasm");
    const model = tinyModel();
    const { x, y } = inputs();
    const optimizer = tf.train.sgd(0.05);
    const before = tf.memory().numTensors;
    const first = optimizer.minimize(() => lossFn(model, x, y), true) as tf.Scalar;
    const initial = (await first.data())[0] ?? NaN;
    first.dispose();
    const countAfterFirst = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(optimizer.minimize(() => lossFn(model, x, y), true) ?? []);
    const after = tf.tidy(() => lossFn(model, x, y));
    const final = (await after.data())[0] ?? NaN;
    after.dispose();
    assert.ok(final < initial, `loss ${initial} -> ${final}`);
    assert.equal(tf.memory().numTensors, countAfterFirst, "tensors leaked across steps");
    assert.ok(countAfterFirst - before >= 0);
    tf.dispose([x, y]);
    optimizer.dispose();
    model.dispose();
  },
});

Deno.test("backend: explicit backends that cannot load fail with BackendUnavailableError naming the cause", async () => {
  const missing = new URL("./_no_such_tfjs_node.js", import.meta.url).href;
  const error = await assert.rejects(
    selectBackend("tensorflow", { tensorflowModules: [missing] }),
    (e: unknown) =>
      e instanceof BackendUnavailableError && e.backend === "tensorflow" && e.message.includes(missing) &&
      e.cause instanceof Error && e.tried[0]?.reason === "_no_such_tfjs_node.js: package not installed",
  );
  assert.equal(error, undefined);
  await assert.rejects(
    selectBackend("wasm", { wasmPath: "file:///nonexistent/" }),
    /no tfjs-backend-wasm-simd.wasm/,
  );
  await assert.rejects(selectBackend("gpu" as "cpu"), /expected one of auto, tensorflow, webgpu, wasm, cpu/);
});

Deno.test("backend: auto picks the best backend that loads and says in one short line what it skipped", async () => {
  const chosen = await selectBackend("auto", { tensorflowModules: [] });
  assert.equal(chosen.tried.at(-1)?.name, chosen.name);
  assert.equal(chosen.tried[0]?.name, "tensorflow");
  assert.equal(chosen.tried[0]?.ok, false);
  assert.equal(chosen.tried[0]?.reason, "no tfjs-node module to try");
  assert.match(chosen.reason, /; skipped tensorflow: unavailable/);
  assert.equal(tf.getBackend(), chosen.name);
  assert.ok(`backend: ${chosen.name} (${chosen.reason})`.length <= 100, chosen.reason);
  assert.doesNotMatch(chosen.reason, /node_modules|\//);
});

Deno.test({
  name: "backend: the missing native addon of tfjs-node reads as one short line, the full error kept" +
    (available.get("tensorflow") === null
      ? ": skipped, libtensorflow loads here, so there is no error to shorten"
      : ""),
  ignore: available.get("tensorflow") === null,
}, async () => {
  const report = await backendReport();
  const [tensorflow] = report.tried;
  assert.ok(tensorflow && !tensorflow.ok);
  assert.ok(tensorflow.reason.length <= 80, tensorflow.reason);
  assert.doesNotMatch(tensorflow.reason, /node_modules|\//);
  assert.match(tensorflow.reason, /tfjs-node/);
  assert.ok(tensorflow.details && tensorflow.details.length > tensorflow.reason.length);
  const text = report.toText();
  for (const line of text.split("\n")) assert.ok(line.length <= 100, line);
  assert.doesNotMatch(text, /node_modules/);
  assert.match(
    report.toText({ verbose: true }),
    new RegExp((tensorflow.details ?? "").split("\n")[0]!.slice(0, 40)),
  );
  assert.match(report.toHtml(), /<details><summary>[^<]*tfjs-node[^<]*<\/summary><pre/);
});

Deno.test("backend: a libtensorflow that cannot load its CUDA library says which, in a few words", async () => {
  const cuda = "data:text/javascript,throw new Error('libcudart.so.11.0: cannot open shared object file: " +
    "No such file or directory')";
  const report = await backendReport({ tensorflowModules: [cuda] });
  assert.equal(report.tried[0]?.usable, "no");
  assert.match(report.tried[0]?.reason ?? "", /^inline module: missing libcudart\.so\.11\.0$/);
  assert.match(report.tried[0]?.details ?? "", /No such file or directory/);
});

Deno.test("backend: one rule ranks tensorflow, hardware webgpu, wasm, software webgpu, cpu", () => {
  const loaded = (name: BackendName, software?: boolean) => ({
    name,
    ok: true,
    ...(software === undefined ? {} : { software }),
  });
  const failed = (name: BackendName) => ({ name, ok: false });
  assert.equal(bestBackend([loaded("tensorflow"), loaded("webgpu"), loaded("wasm")]), "tensorflow");
  assert.equal(bestBackend([failed("tensorflow"), loaded("webgpu", false), loaded("wasm")]), "webgpu");
  assert.equal(bestBackend([failed("tensorflow"), loaded("webgpu", true), loaded("wasm")]), "wasm");
  assert.equal(bestBackend([loaded("webgpu", true), failed("wasm"), loaded("cpu")]), "webgpu");
  assert.equal(
    bestBackend([loaded("webgpu", true), loaded("wasm")], { allowFallbackAdapter: true }),
    "webgpu",
  );
  assert.equal(bestBackend([failed("webgpu"), failed("wasm"), loaded("cpu")]), "cpu");
  assert.equal(bestBackend([failed("cpu")]), undefined);
});

// WebGPU adapters seen through a wrapper that only changes what `info` says, so the same rule can be checked
// with a software and a hardware adapter on whatever real adapter this machine has.
// deno-lint-ignore no-explicit-any
const gpu = (globalThis.navigator as any)?.gpu;
const realAdapter = gpu ? await gpu.requestAdapter() : null;

async function withAdapterInfo<T>(info: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
  const fake = {
    requestAdapter: async (o?: unknown) => {
      const adapter = await gpu.requestAdapter(o);
      return adapter && new Proxy(adapter, {
        get: (t, k) => {
          if (k === "info") return { ...t.info, ...info };
          const v = Reflect.get(t, k, t);
          return typeof v === "function" ? v.bind(t) : v;
        },
      });
    },
    getPreferredCanvasFormat: () => gpu.getPreferredCanvasFormat(),
  };
  Object.defineProperty(globalThis.navigator, "gpu", { value: fake, configurable: true });
  try {
    return await fn();
  } finally {
    // deno-lint-ignore no-explicit-any
    delete (globalThis.navigator as any).gpu;
  }
}

const ADAPTERS = [
  {
    kind: "software (lavapipe)",
    info: { vendor: "mesa", description: "llvmpipe (LLVM 15.0.6, 256 bits)", isFallbackAdapter: false },
    usable: "slow",
    best: available.get("wasm") === null ? "wasm" : "webgpu",
  },
  {
    kind: "hardware",
    info: { vendor: "nvidia", description: "NVIDIA Tesla V100-PCIE-16GB", isFallbackAdapter: false },
    usable: "yes",
    best: "webgpu",
  },
] as const;

for (const a of ADAPTERS) {
  Deno.test({
    name: `backend: selectBackend("auto") and backendReport() (the doctor's probe) agree with a ${a.kind} ` +
      `WebGPU adapter${realAdapter ? "" : ": skipped, this machine has no WebGPU adapter to wrap"}`,
    ignore: !realAdapter,
    fn: () =>
      withAdapterInfo(a.info, async () => {
        const options = { tensorflowModules: [] };
        const report = await backendReport(options);
        assert.equal(report.tried.find((t) => t.name === "webgpu")?.usable, a.usable);
        assert.equal(report.best, a.best);
        assert.equal(tf.getBackend(), a.best, "the report leaves the best backend active");
        const auto = await selectBackend("auto", options);
        assert.equal(auto.name, report.best);
        assert.equal(tf.getBackend(), a.best);
        if (a.usable === "slow") {
          assert.match(report.tried[1]?.reason ?? "", /^software adapter llvmpipe: slower than wasm$/);
          const allowed = await selectBackend("auto", { ...options, allowFallbackAdapter: true });
          assert.equal(allowed.name, "webgpu");
        }
      }),
  });
}

Deno.test("backend: the WebGPU probe gives a process without XDG_RUNTIME_DIR a private one, and no noise", async () => {
  const env = Deno.env.toObject();
  delete env.XDG_RUNTIME_DIR;
  const code = `
    import { selectBackend } from "./lib/model/backend.ts";
    await selectBackend("webgpu").catch(() => {});
    const dir = Deno.env.get("XDG_RUNTIME_DIR");
    console.log(JSON.stringify({ dir, mode: dir ? Deno.statSync(dir).mode! & 0o777 : null }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    cwd: new URL("../..", import.meta.url),
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.doesNotMatch(stderr, /XDG_RUNTIME_DIR/);
  const { dir, mode } = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  assert.match(dir, /cxr-runtime-/);
  assert.equal(mode, 0o700);
  assert.equal(await Deno.stat(dir).then(() => true, () => false), false, "removed when the process ends");
});
