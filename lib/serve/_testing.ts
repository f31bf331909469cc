// Helpers shared by the serve tests: the key, a scoring request and its body stream, a tiny real model bundle,
// wrappers that slow or break a predictor, and hand-made broken images.
import { crc32 } from "node:zlib";
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

/** Writes a tiny DenseNet bundle (32x32 input, real CAM head) into `dir` and opens it with tfjs on cpu. */
export async function tinyPredictor(dir: string): Promise<Predictor> {
  await selectBackend("cpu");
  const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 32 });
  await saveBundle(model, dir, { modelVersion: "tiny-v1", architecture: { name: "densenet-tiny" } });
  model.dispose();
  return await openPredictor(dir, { engine: "tfjs" });
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

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A PNG whose header claims `width x height` grey pixels (valid CRCs) followed by a tiny IDAT and IEND. */
export function pngWithHeader(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, 0, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", new Uint8Array([0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1])),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
