/**
 * The training data loader over the preprocessed cache (`cxr-cache/1`): a seeded shuffle per epoch, batches,
 * augmentation on the host, and prefetching so the next batch's pixels are ready while the current step runs.
 *
 * @module
 */
import { tf } from "../model/mod.ts";
import { mixSeed, mulberry32 } from "../random.ts";

/** What the loader needs from an opened cache partition (lib/images' `openCache` returns a superset). */
export interface CacheSource {
  /** Side S of the square images. */
  size: number;
  /** Images in the partition. */
  count: number;
  /** Class names, in label column order. */
  classes: readonly string[];
  /** `count × classes.length` 0/1 labels, row-major. */
  labels: Uint8Array;
  /** Pixels of the images at `indices`, one S×S block after another, written into `into` if given. */
  readBatch(indices: ArrayLike<number>, into?: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** Changes one S×S uint8 image (returns a new image or the same one), drawing randomness from `rng`. */
export type Augmenter = (image: Uint8Array, size: number, rng: () => number) => Uint8Array;

/** Options of {@linkcode loadBatches}. */
export interface LoaderOptions {
  /** Images per batch (the last batch may be smaller). */
  batchSize: number;
  /** Shuffle the order, seeded by `seed` and `epoch`. @default false */
  shuffle?: boolean;
  /** Seed of the shuffle and the augmentation. @default 0 */
  seed?: number;
  /** Epoch number, mixed into the seed so every epoch has its own order. @default 0 */
  epoch?: number;
  /** Augmentation applied to every image (training only). @default none */
  augment?: Augmenter | undefined;
  /** Batches prepared ahead of the one being consumed. @default 2 */
  prefetch?: number;
}

/** One batch. The consumer owns (and must dispose) `x` and `y`. */
export interface Batch {
  /** Raw grey pixels 0..255 as float32, `[B, S, S, 1]`. */
  x: tf.Tensor4D;
  /** 0/1 labels as float32, `[B, classes]`. */
  y: tf.Tensor2D;
  /** Positions of the images in the cache. */
  indices: Uint32Array;
}

/**
 * The order of `count` images in an epoch: a Fisher–Yates shuffle fixed by `seed` and `epoch`, so an
 * interrupted run that resumes at an epoch sees the same order it would have seen.
 */
function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const rng = mulberry32(mixSeed(seed, epoch, 0x5eed));
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * Batches of a cache partition for one epoch. Up to `prefetch` batches are decoded and augmented ahead, in
 * macrotasks that run whenever the training step awaits the backend, so the backend does not wait for the
 * host. The augmentation of batch `b` draws from its own seeded generator, so the result does not depend
 * on timing.
 *
 * @param cache an opened partition.
 * @param options batch size, shuffle, seed, epoch, augmentation, prefetch depth.
 * @returns an async iterator of batches whose tensors the consumer disposes.
 * @throws {RangeError} for a batch size below 1 or a negative prefetch.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const size = 2, count = 5;
 * const cache = {
 *   size, count, classes: ["a"], labels: new Uint8Array([0, 1, 0, 1, 1]),
 *   readBatch: (ix: ArrayLike<number>) => new Uint8Array(ix.length * 4).map((_, k) => ix[Math.floor(k / 4)]!),
 * };
 * const seen: number[] = [];
 * for await (const b of loadBatches(cache, { batchSize: 2 })) {
 *   assert.deepEqual(b.x.shape, [b.indices.length, 2, 2, 1]);
 *   seen.push(...await b.y.data());
 *   b.x.dispose();
 *   b.y.dispose();
 * }
 * assert.deepEqual(seen, [0, 1, 0, 1, 1]);
 * ```
 */
export async function* loadBatches(cache: CacheSource, options: LoaderOptions): AsyncGenerator<Batch> {
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`loadBatches: batchSize must be a positive integer, got ${batchSize}`);
  }
  const depth = options.prefetch ?? 2;
  if (!Number.isInteger(depth) || depth < 0) {
    throw new RangeError(`loadBatches: prefetch must be an integer >= 0, got ${depth}`);
  }
  const { seed = 0, epoch = 0 } = options;
  const { size, count } = cache;
  const classes = cache.classes.length;
  const order = options.shuffle ? epochOrder(count, seed, epoch) : epochOrder(count, 0, 0).sort();
  const batches = Math.ceil(count / batchSize);
  const pixelsPerImage = size * size;

  /** Batch `b`'s pixels and labels on the host. */
  const prepare = async (b: number) => {
    // Yield first: this runs in a later macrotask, i.e. while the consumer awaits the backend.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const indices = order.slice(b * batchSize, Math.min(count, (b + 1) * batchSize));
    const raw = await cache.readBatch(indices);
    const pixels = new Float32Array(indices.length * pixelsPerImage);
    const labels = new Float32Array(indices.length * classes);
    const rng = options.augment ? mulberry32(mixSeed(seed, epoch, b, 0xa06)) : undefined;
    for (const [i, index] of indices.entries()) {
      let image = raw.subarray(i * pixelsPerImage, (i + 1) * pixelsPerImage);
      if (options.augment) image = options.augment(image, size, rng!);
      pixels.set(image, i * pixelsPerImage);
      labels.set(cache.labels.subarray(index * classes, (index + 1) * classes), i * classes);
    }
    return { pixels, labels, indices };
  };

  const queue: ReturnType<typeof prepare>[] = [];
  let next = 0;
  const fill = () => {
    while (next < batches && queue.length <= depth) queue.push(prepare(next++));
  };
  for (let b = 0; b < batches; b++) {
    fill();
    const { pixels, labels, indices } = await queue.shift()!;
    fill();
    const n = indices.length;
    yield { x: tf.tensor4d(pixels, [n, size, size, 1]), y: tf.tensor2d(labels, [n, classes]), indices };
  }
}
