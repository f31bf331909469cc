import assert from "node:assert/strict";
import { selectBackend, tf } from "../model/mod.ts";
import { type CacheSource, loadBatches } from "./loader.ts";
import { augment } from "../images/mod.ts";

await selectBackend("cpu");

/** A cache of `count` 4x4 images whose pixels all equal the image index; label column 0 = index parity. */
function fakeCache(count: number, reads: number[][] = []): CacheSource {
  const labels = new Uint8Array(count * 2);
  for (let i = 0; i < count; i++) labels[i * 2] = i % 2;
  return {
    size: 4,
    count,
    classes: ["odd", "never"],
    labels,
    readBatch(indices) {
      reads.push([...Array.from(indices)]);
      const out = new Uint8Array(indices.length * 16);
      for (let i = 0; i < indices.length; i++) out.fill(indices[i]!, i * 16, (i + 1) * 16);
      return out;
    },
  };
}

async function drain(cache: CacheSource, options: Parameters<typeof loadBatches>[1]) {
  const batches: { ids: number[]; pixels: number[]; labels: number[] }[] = [];
  for await (const b of loadBatches(cache, options)) {
    batches.push({ ids: [...b.indices], pixels: [...await b.x.data()], labels: [...await b.y.data()] });
    tf.dispose([b.x, b.y]);
  }
  return batches;
}

Deno.test("every image once per epoch, in batches, labels and pixels matching; the order is seeded per epoch", async () => {
  const before = tf.memory().numTensors;
  const e1 = await drain(fakeCache(10), { batchSize: 4, shuffle: true, seed: 7, epoch: 1 });
  assert.deepEqual(e1.map((b) => b.ids.length), [4, 4, 2]);
  const ids = e1.flatMap((b) => b.ids);
  assert.deepEqual([...ids].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.notDeepEqual(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (const b of e1) {
    assert.deepEqual(b.pixels, b.ids.flatMap((i) => Array(16).fill(i)));
    assert.deepEqual(b.labels, b.ids.flatMap((i) => [i % 2, 0]));
  }
  const again = await drain(fakeCache(10), { batchSize: 4, shuffle: true, seed: 7, epoch: 1 });
  assert.deepEqual(again, e1);
  const e2 = await drain(fakeCache(10), { batchSize: 4, shuffle: true, seed: 7, epoch: 2 });
  assert.notDeepEqual(e2.flatMap((b) => b.ids), ids);
  assert.equal(tf.memory().numTensors, before, "the loader keeps no tensors of its own");
});

Deno.test("prefetch reads ahead of the consumer; the augmented result does not depend on the prefetch depth", async () => {
  const reads: number[][] = [];
  const iterator = loadBatches(fakeCache(12, reads), { batchSize: 2, prefetch: 2 });
  const first = await iterator.next();
  assert.ok(!first.done);
  tf.dispose([first.value.x, first.value.y]);
  // Let the queued preparations run, as they do while a training step awaits the backend.
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(reads.length, 4, "batch 0 consumed, batches 1-3 prepared");
  await iterator.return(undefined);

  const cache = {
    ...fakeCache(6),
    readBatch: (ix: ArrayLike<number>) => new Uint8Array(ix.length * 16).map((_, k) => k * 7 % 256),
  };
  const options = { batchSize: 2, shuffle: true, seed: 3, epoch: 1, augment };
  const a = await drain(cache, { ...options, prefetch: 0 });
  const b = await drain(cache, { ...options, prefetch: 3 });
  assert.deepEqual(a, b);
  const plain = await drain(cache, { ...options, augment: undefined });
  assert.notDeepEqual(a.map((x) => x.pixels), plain.map((x) => x.pixels), "augmentation changed pixels");
});

Deno.test("loadBatches checks its arguments", async () => {
  await assert.rejects(drain(fakeCache(3), { batchSize: 0 }), /batchSize must be a positive integer, got 0/);
  await assert.rejects(
    drain(fakeCache(3), { batchSize: 1, prefetch: -1 }),
    /prefetch must be an integer >= 0/,
  );
});
