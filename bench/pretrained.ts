/**
 * What starting from ImageNet costs and what freezing saves, on this machine:
 *
 * 1. Time to the first finished epoch of DenseNet-121 on the demo set (synthetic, NIH layout) with
 *    `--init imagenet` against `--init none`. The ImageNet file is a DenseNet-121 "notop" file in the Keras
 *    layout (seeded weights of the real shapes, 8.1 M values like the real 32 MB file) served by a local HTTP
 *    server, so download, md5 check and import are all in the figure; its md5 is passed as an override.
 * 2. Training images/s of DenseNet-121 at 224 on the chosen backend with `--freeze backbone` (head only),
 *    `--freeze conv5_block1_0_bn` (last dense block) and `--freeze none` (everything), batch 2, each in its own
 *    subprocess so every run gets a fresh wasm heap.
 *
 * Run: `deno run -A bench/pretrained.ts [--backend wasm] [--size 64] [--images 300] [--steps 4]`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BackendName, createDenseNet, selectBackend, tf } from "../lib/model/mod.ts";
import { setSeededWeights } from "../lib/model/_testing.ts";
import { h5Ready, writeKerasH5 } from "../lib/model/_keras_h5_testing.ts";
import { classWeights, type FreezeChoice, freezeLayers, train, trainStep } from "../lib/train/mod.ts";
import { writeSyntheticCache } from "../lib/train/_testing.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    backend: { type: "string", default: "wasm" },
    size: { type: "string", default: "64" },
    images: { type: "string", default: "300" },
    steps: { type: "string", default: "4" },
    "step-only": { type: "string" },
    help: { type: "boolean" },
  },
});
if (args.values.help) {
  console.log(
    "deno run -A bench/pretrained.ts [--backend wasm] [--size 64] [--images 300] [--steps 4]\n" +
      "  time to the first epoch with --init imagenet vs none (demo set at --size), and training img/s at 224\n" +
      "  with --freeze backbone / conv5_block1_0_bn / none",
  );
  Deno.exit(0);
}
const backend = args.values.backend as BackendName;
const steps = Number(args.values.steps);

/** Training img/s at 224 for one freeze choice (run in a subprocess). */
async function stepRate(freeze: FreezeChoice): Promise<number> {
  await selectBackend(backend);
  const model = createDenseNet({ inputSize: 224 });
  const summary = freezeLayers(model, freeze);
  const x = tf.randomUniform([2, 224, 224, 1], 0, 255, "float32", 1);
  const y = tf.cast(tf.greater(tf.randomUniform([2, 14], 0, 1, "float32", 2), 0.7), "float32");
  const weights = classWeights(await y.data(), 14);
  const optimizer = tf.train.adam(1e-3);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const step = () => trainStep(model, optimizer, x, y, { microBatch: 2, weights, variables });
  await step(); // warm-up: kernel set-up, Adam's moments
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const rate = (2 * steps) / ((performance.now() - t0) / 1000);
  console.error(`  freeze ${freeze}: ${summary.trainableParams.toLocaleString("en")} trainable parameters`);
  return rate;
}

if (args.values["step-only"]) {
  console.log(JSON.stringify({ rate: await stepRate(args.values["step-only"]) }));
  Deno.exit(0);
}

const size = Number(args.values.size);
const dir = await Deno.makeTempDir({ prefix: "cxr-bench-pretrained-" });
try {
  console.log(
    `# bench/pretrained.ts on ${backend}, ${navigator.hardwareConcurrency} cores, ${
      new Date().toISOString()
    }`,
  );
  const cache = await writeSyntheticCache(dir, { images: Number(args.values.images), size, seed: 1 });

  // A notop file with the real shapes, in the Keras layout (h5wasm writes it; the cpu backend reads weights).
  await selectBackend("cpu");
  await h5Ready;
  const notop = createDenseNet({ inputSize: 32, includeTop: false });
  setSeededWeights(notop, 1);
  const file = join(dir, "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5");
  writeKerasH5(notop, file);
  notop.dispose();
  const bytes = readFileSync(file);
  const md5 = createHash("md5").update(bytes).digest("hex");
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(bytes, { headers: { "content-length": String(bytes.length) } }),
  );
  await selectBackend(backend);
  const firstEpoch = async (init: "imagenet" | "none") => {
    const t0 = performance.now();
    let seconds = NaN;
    await train(cache, join(dir, `run-${init}`), {
      arch: "densenet121",
      epochs: 1,
      batchSize: 16,
      init,
      augment: null,
      pretrained: {
        baseUrl: `http://127.0.0.1:${server.addr.port}/`,
        cacheDir: join(dir, "weights"),
        md5,
      },
      onProgress: (e) => {
        if (e.type === "init") {
          console.error(
            `  init ${init}: weights ready after ${((performance.now() - t0) / 1000).toFixed(1)} s`,
          );
        }
        if (e.type === "epoch") seconds = (performance.now() - t0) / 1000;
      },
    });
    return seconds;
  };
  const none = await firstEpoch("none");
  const imagenet = await firstEpoch("imagenet");
  await server.shutdown();
  console.log(
    `\n## Time to the first epoch, DenseNet-121 at ${size} px, ${args.values.images} synthetic images`,
  );
  console.log(`| init | seconds |\n| --- | --- |`);
  console.log(
    `| none | ${none.toFixed(1)} |\n| imagenet (${
      (bytes.length / 2 ** 20).toFixed(1)
    } MiB served locally) | ${imagenet.toFixed(1)} |`,
  );

  console.log(`\n## Training img/s at 224, batch 2, ${backend}, ${steps} steps after a warm-up`);
  console.log(`| freeze | img/s |\n| --- | --- |`);
  for (const freeze of ["backbone", "conv5_block1_0_bn", "none"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        fileURLToPath(import.meta.url),
        "--backend",
        backend,
        "--steps",
        String(steps),
        "--step-only",
        freeze,
      ],
      stderr: "inherit",
      stdout: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    const rate = out.code === 0
      ? JSON.parse(text.split("\n").at(-1)!).rate.toFixed(2)
      : `failed (exit ${out.code})`;
    console.log(`| ${freeze} | ${rate} |`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
