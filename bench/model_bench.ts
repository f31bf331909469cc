// Tiny-DenseNet forward and training step per backend (wasm, cpu), so `deno task bench` tracks the model
// step's speed cheaply; the full DenseNet-121 vs PyTorch comparison is bench/model_throughput.ts.
import { createDenseNet, selectBackend, tf, tfl } from "../lib/model/mod.ts";

for (const backend of ["wasm", "cpu"] as const) {
  await selectBackend(backend);
  const model = createDenseNet({ blocks: [2, 2], growthRate: 8, inputSize: 64 });
  const x = tf.randomUniform([4, 64, 64, 1], 0, 255);
  const y = tf.cast(tf.greater(tf.randomUniform([4, 14]), 0.7), "float32");
  const optimizer = tf.train.sgd(0.01);
  Deno.bench(`tiny DenseNet forward, batch 4 at 64x64 [${backend}]`, { group: "forward" }, async () => {
    await selectBackend(backend);
    const out = model.predict(x) as tf.Tensor;
    await out.data();
    out.dispose();
  });
  Deno.bench(`tiny DenseNet training step, batch 4 at 64x64 [${backend}]`, {
    group: "train",
    ...(backend === "cpu" ? { n: 3, warmup: 1 } : {}),
  }, async () => {
    await selectBackend(backend);
    const loss = optimizer.minimize(
      () =>
        tf.mean(
          tfl.metrics.binaryCrossentropy(y, model.apply(x, { training: true }) as tf.Tensor),
        ) as tf.Scalar,
      true,
    )!;
    await loss.data();
    loss.dispose();
  });
}
