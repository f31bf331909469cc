// Helpers shared by the serve tests: the key, a scoring request and its body stream, a tiny real model bundle,
// wrappers that slow or break a predictor, and hand-made broken images.
import { crc32 } from "node:zlib";
import sharp from "sharp";
import { createDenseNet, openPredictor, type Predictor, saveBundle, selectBackend } from "../model/mod.ts";

/** The key the serve tests' handlers require, and the header that carries it. */
export const KEY = "serve-test-key-5f1c9a";
export const AUTH = { authorization: `Bearer ${KEY}` };

/** A `POST /score` request for a handler, with {@linkcode AUTH} unless `auth` replaces it. */
export function post(
  body: Uint8Array | string | ReadableStream<Uint8Array>,
  headers: Record<string, string>,
  query = "",
  auth: Record<string, string> = AUTH,
): Request {
  return new Request(`http://local/score${query}`, {
    method: "POST",
    body: body as BodyInit,
    headers: { ...auth, ...headers },
  });
}

/**
 * A request body whose `k`-th pull (from 1) gives `next(k)`: bytes, an error to fail with, or `undefined` to
 * end; pulled only when read, and `pulled()` counts the pulls.
 */
export function bodyStream(
  next: (k: number) => Uint8Array | Error | undefined,
): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      const chunk = next(++pulls);
      if (chunk instanceof Error) c.error(chunk);
      else if (chunk) c.enqueue(chunk);
      else c.close();
    },
  }, { highWaterMark: 0 });
  return { stream, pulled: () => pulls };
}

/**
 * Writes a tiny DenseNet bundle (32x32 input, real CAM head) into `dir` and opens it with tfjs on cpu;
 * disposed at the end of an `await using` block.
 */
export async function tinyPredictor(dir: string): Promise<Predictor & AsyncDisposable> {
  await selectBackend("cpu");
  const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 32 });
  await saveBundle(model, dir, { modelVersion: "tiny-v1", architecture: { name: "densenet-tiny" } });
  model.dispose();
  const predictor = await openPredictor(dir, { engine: "tfjs" });
  return Object.assign(predictor, { [Symbol.asyncDispose]: () => predictor.dispose() });
}

/** Wraps `inner`: `predict` copies its pixels into `record`, awaits `gate`, throws `fail` or delegates. */
export function wrapPredictor(
  inner: Predictor,
  behaviour: { gate?: () => Promise<void>; fail?: Error; record?: Uint8Array[] },
): Predictor {
  return {
    engine: inner.engine,
    metadata: inner.metadata,
    async predict(pixels, n, options) {
      behaviour.record?.push(pixels.slice());
      if (behaviour.gate) await behaviour.gate();
      if (behaviour.fail) throw behaviour.fail;
      return await inner.predict(pixels, n, options);
    },
    dispose: () => Promise.resolve(),
  };
}

/** A 1x1 grey PNG whose header is rewritten to claim `width x height` pixels (its CRC recomputed). */
export async function pngWithHeader(width: number, height: number): Promise<Uint8Array> {
  const grey = sharp(new Uint8Array(1), { raw: { width: 1, height: 1, channels: 1 } }).toColourspace("b-w");
  const png = new Uint8Array(await grey.png().toBuffer());
  const view = new DataView(png.buffer, png.byteOffset);
  view.setUint32(16, width); // IHDR's data starts at 16: signature (8), length (4), type (4)
  view.setUint32(20, height);
  view.setUint32(29, crc32(png.subarray(12, 29))); // the CRC of the type and the 13 data bytes
  return png;
}
