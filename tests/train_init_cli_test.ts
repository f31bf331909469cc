import assert from "node:assert/strict";
import { join } from "node:path";
import { runCxr, tempDir } from "./_fixtures.ts";
import { writeSyntheticCache } from "../lib/train/_testing.ts";
import { createDenseNet, readBundleMetadata, selectBackend } from "../lib/model/mod.ts";
import { setSeededWeights } from "../lib/model/_testing.ts";
import { h5Ready, writeKerasH5 } from "../lib/model/_keras_h5_testing.ts";

// `deno task cxr train --init/--freeze` as a subprocess: usage errors, the offline message for the ImageNet
// file (no network: a local server that answers 404), and a tiny DenseNet started from a Keras file with its
// backbone frozen.

await selectBackend("cpu");
await h5Ready;

Deno.test("train --init imagenet with the tiny DenseNet is a usage error (exit 2)", async () => {
  const r = await runCxr(["train", "--cache", "c", "--out", "o", "--arch", "tiny", "--init", "imagenet"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /ImageNet weights exist only for densenet121, not "tiny"/);
});

Deno.test("train --init imagenet when the weights cannot be fetched: exit 1 naming the URL, md5 and where to put the file, no SAS", async () => {
  using dir = tempDir();
  const cache = await writeSyntheticCache(dir.path, { images: 16, size: 32 });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("gone", { status: 404 }),
  );
  try {
    const weightsCache = join(dir.path, "weights");
    const r = await runCxr(
      [
        "train",
        "--cache",
        cache,
        "--out",
        join(dir.path, "run"),
        "--arch",
        "densenet121",
        "--backend",
        "cpu",
      ],
      {
        env: {
          CXR_WEIGHTS_BASE_URL: `http://127.0.0.1:${server.addr.port}/mirror/?sv=2024&sig=TOPSECRETSAS`,
          CXR_WEIGHTS_CACHE: weightsCache,
        },
      },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /densenet121_weights_tf_dim_ordering_tf_kernels_notop\.h5/);
    assert.match(r.stderr, /4912a53fbd2a69346e7f2c0b5ec8c6d3/);
    assert.ok(r.stderr.includes(weightsCache), r.stderr);
    assert.ok(!r.stderr.includes("TOPSECRETSAS") && !r.stdout.includes("TOPSECRETSAS"), r.stderr);
  } finally {
    await server.shutdown();
  }
});

Deno.test("train --arch tiny --init FILE.h5 --freeze backbone: trains the head only and the bundle says where it started", async () => {
  using dir = tempDir();
  const cache = await writeSyntheticCache(dir.path, { images: 24, size: 32 });
  const source = createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: 32, name: "tiny" });
  setSeededWeights(source, 9);
  const file = join(dir.path, "colleague.h5");
  writeKerasH5(source, file, { extra: true });
  source.dispose();
  const out = join(dir.path, "run");
  const args = ["train", "--cache", cache, "--out", out, "--arch", "tiny", "--epochs", "1", "--batch", "8"];
  const r = await runCxr([...args, "--init", file, "--freeze", "backbone", "--backend", "wasm", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Starting from a Keras weights file: .*colleague\.h5 \(md5 [0-9a-f]{32}, local\)/);
  assert.match(r.stderr, /1 in the file unused: extra\/kernel/);
  assert.match(r.stderr, /Freeze backbone: training 1 layers \(462 parameters\)/);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.weights.init, "file");
  assert.equal(summary.freeze.trainableParams, 32 * 14 + 14);
  const meta = await readBundleMetadata(summary.bundle);
  assert.equal(meta.weights?.file, "colleague.h5");
  assert.equal(meta.weights?.freeze, "backbone");

  const bad = await runCxr([...args, "--out", join(dir.path, "run2"), "--freeze", "conv9_block1_0_bn"]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /no layer "conv9_block1_0_bn" in model "tiny"/);
  const missing = await runCxr([
    ...args,
    "--out",
    join(dir.path, "run3"),
    "--init",
    join(dir.path, "absent.h5"),
  ]);
  assert.equal(missing.code, 1, missing.stderr);
  assert.match(missing.stderr, /absent\.h5/);
});
