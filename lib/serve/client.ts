/**
 * The scoring client: {@linkcode scoreRemote} sends one image to a scoring service (`POST /score`, the key as
 * a Bearer token, retries with backoff while the service is busy or unreachable) and {@linkcode scoreLocal}
 * scores it with a model bundle opened in this process; both answer the same {@linkcode ScoreResponseJson},
 * field for field, for the same image and model.
 *
 * @module
 */
import { Secret } from "../secrets.ts";
import { setTimeout as delay } from "node:timers/promises";
import { sniffImageFormat } from "../images/sniff.ts";
import type { Predictor } from "../model/predictor_contract.ts";
import { parseScoreResponse, type ScoreResponseJson, ScoringServiceError } from "./score_format.ts";
import { scoreImage } from "./score_image.ts";
import { ServeError } from "./errors.ts";

/** Retries of {@linkcode scoreRemote}. */
export interface ScoreRetryOptions {
  /** Tries in all, the first included (1 = no retry). @default 4 */
  attempts?: number;
  /** Wait before the first retry, doubled for each further one (a `Retry-After` header wins). @default 250 */
  baseDelayMs?: number;
  /** Longest wait between tries. @default 5000 */
  maxDelayMs?: number;
}

/** Options of {@linkcode scoreRemote}. */
export interface ScoreRemoteOptions {
  /** The service's key, sent as `Authorization: Bearer <key>`; never shown in messages. @default none */
  key?: Secret | string | null;
  /** Also ask for a class activation heatmap (base64 PNG in `heatmap`). @default false */
  heatmap?: boolean;
  /** The finding the heatmap is drawn for. @default the top finding */
  className?: string | undefined;
  /** Time limit of each try, in milliseconds. @default 60000 */
  timeoutMs?: number | undefined;
  /** Retries on 503 (busy, not ready) and on connection failures. */
  retry?: ScoreRetryOptions;
  /** Cancels the request and any wait between tries. */
  signal?: AbortSignal;
}

/**
 * The scoring service could not be reached (connection refused or reset, DNS failure) or did not answer
 * within the time limit, after every try.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new ScoringUnreachableError("connection refused", "http://h:1/score", 3);
 * assert.equal(e.message, 'Cannot reach the scoring service at "http://h:1/score" after 3 tries: connection refused');
 * ```
 */
export class ScoringUnreachableError extends ServeError {
  /**
   * @param reason Why the last try failed; the message says `Cannot reach the scoring service at "<url>" after
   * <attempts> tries: <reason>`.
   * @param url The URL tried (without credentials).
   * @param attempts Tries made.
   * @param options `cause`: the last try's error.
   */
  constructor(reason: string, readonly url: string, readonly attempts: number, options?: ErrorOptions) {
    super(
      `Cannot reach the scoring service at "${url}" after ${attempts} ${
        attempts === 1 ? "try" : "tries"
      }: ${reason}`,
      options,
    );
  }
}

/**
 * The `POST /score` URL for a service URL: a URL that already ends in `/score` is kept, any other gets
 * `score` appended to its path; user and password parts are refused (send the key with `key`).
 *
 * @throws {TypeError} If `url` is not an http(s) URL or carries credentials.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(scoreUrl("http://127.0.0.1:8080"), "http://127.0.0.1:8080/score");
 * assert.equal(scoreUrl("https://cxr.example/api/"), "https://cxr.example/api/score");
 * assert.equal(scoreUrl("http://h/score"), "http://h/score");
 * assert.throws(() => scoreUrl("ftp://h"), TypeError);
 * ```
 */
export function scoreUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new TypeError(`scoreUrl: "${url}" is not a URL (expected e.g. http://127.0.0.1:8080)`, {
      cause: e,
    });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new TypeError(`scoreUrl: expected an http or https URL, got "${u.protocol}"`);
  }
  if (u.username || u.password) {
    throw new TypeError("scoreUrl: the URL must not carry a user or password; pass the key as `key`");
  }
  u.search = "";
  u.hash = "";
  if (!/\/score$/.test(u.pathname)) u.pathname = u.pathname.replace(/\/?$/, "/score");
  return u.toString();
}

/**
 * The Content-Type for encoded image bytes, from their signature.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(imageContentType(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10])), "image/png");
 * assert.equal(imageContentType(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), "image/jpeg");
 * const dicom = new Uint8Array(132);
 * dicom.set(new TextEncoder().encode("DICM"), 128);
 * assert.equal(imageContentType(dicom), "application/dicom");
 * assert.equal(imageContentType(new TextEncoder().encode("hello")), "application/octet-stream");
 * ```
 */
export function imageContentType(bytes: Uint8Array): string {
  const format = sniffImageFormat(bytes);
  return format ? CONTENT_TYPES[format] : "application/octet-stream";
}

const CONTENT_TYPES = { png: "image/png", jpeg: "image/jpeg", dicom: "application/dicom" } as const;

/** Waits `ms`; an abort rejects with the signal's reason. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch((e) => {
    throw signal?.aborted ? signal.reason : e;
  });
}

/** Seconds of a `Retry-After` header (delta form), in milliseconds. */
function retryAfter(header: string | null): number | undefined {
  return header && /^\d+$/.test(header.trim()) ? Number(header) * 1000 : undefined;
}

/**
 * Scores one encoded image (PNG or JPEG, any size) with a scoring service.
 *
 * The image goes as the raw body (`?heatmap=1&class=...` in the query). A 503 answer (busy, not ready) and a
 * connection failure are retried with exponential backoff (a `Retry-After` header sets the wait, capped at
 * `maxDelayMs`); any other error answer is final.
 *
 * @param url The service (`http://host:port`) or its `/score` URL.
 * @returns The service's answer, validated.
 * @throws {ScoringServiceError} When the service answers an error document (401, 400 bad_image, 503 after
 *   the last try...), with its status and code.
 * @throws {ScoringUnreachableError} When no try got an answer.
 * @throws {ScoreFormatError} When a 200 answer is not the documented JSON.
 * @throws {TypeError} For a bad URL or an image that is not a Uint8Array.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const answer = { model: { name: "densenet", version: "v1" }, probabilities: { Mass: 0.8 }, top: { class: "Mass", probability: 0.8 } };
 * let tries = 0;
 * const server = Deno.serve({ port: 0, onListen() {} }, (req) => {
 *   if (req.headers.get("authorization") !== "Bearer k-123456789") return new Response("{}", { status: 401 });
 *   return ++tries < 2 ? Response.json({ error: { status: 503, code: "busy", message: "queue full" } }, { status: 503 }) : Response.json(answer);
 * });
 * const url = `http://127.0.0.1:${server.addr.port}`;
 * const result = await scoreRemote(url, new Uint8Array([0x89, 0x50, 0x4e, 0x47]), { key: "k-123456789", retry: { baseDelayMs: 1 } });
 * assert.deepEqual(result, answer);
 * assert.equal(tries, 2);
 * await server.shutdown();
 * ```
 */
export async function scoreRemote(
  url: string,
  image: Uint8Array,
  options: ScoreRemoteOptions = {},
): Promise<ScoreResponseJson> {
  if (!(image instanceof Uint8Array)) throw new TypeError("scoreRemote: image must be a Uint8Array");
  const source = scoreUrl(url);
  const target = new URL(source);
  if (options.heatmap) target.searchParams.set("heatmap", "1");
  if (options.className !== undefined) target.searchParams.set("class", options.className);
  const attempts = Math.max(1, options.retry?.attempts ?? 4);
  const baseDelay = options.retry?.baseDelayMs ?? 250;
  const maxDelay = options.retry?.maxDelayMs ?? 5000;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const headers: Record<string, string> = { "content-type": imageContentType(image) };
  const key = options.key instanceof Secret ? options.key.reveal() : options.key;
  if (key) headers.authorization = `Bearer ${key}`;
  const body = image as Uint8Array<ArrayBuffer>;
  for (let attempt = 1;; attempt++) {
    let wait = Math.min(maxDelay, baseDelay * 2 ** (attempt - 1));
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await fetch(target, { method: "POST", headers, body, signal });
      text = await response.text();
    } catch (e) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (timeout.aborted) {
        // Not retried: a slow service gets no extra load from its clients.
        throw new ScoringUnreachableError(`no answer within ${timeoutMs} ms`, source, attempt, { cause: e });
      }
      const reason = String((e as Error)?.message ?? e).split("\n", 1)[0]!.replaceAll(key || "\0", "***");
      if (attempt >= attempts) throw new ScoringUnreachableError(reason, source, attempt, { cause: e });
      await sleep(wait, options.signal);
      continue;
    }
    try {
      // An error document that quotes the key (a misbehaving proxy) must not carry it into a message.
      const safe = response.status !== 200 && key ? text.replaceAll(key, "***") : text;
      return parseScoreResponse(safe, response.status, { source });
    } catch (e) {
      if (!(e instanceof ScoringServiceError) || e.status !== 503 || attempt >= attempts) throw e;
      const after = retryAfter(response.headers.get("retry-after"));
      if (after !== undefined) wait = Math.min(maxDelay, after);
    }
    await sleep(wait, options.signal);
  }
}

/** Options of {@linkcode scoreLocal}: the heatmap and its class, as for {@linkcode scoreRemote}. */
export type ScoreLocalOptions = Pick<ScoreRemoteOptions, "heatmap" | "className">;

/**
 * Scores one encoded image (PNG or JPEG, any size) with a model opened in this process, through the very
 * function the scoring service runs ({@linkcode scoreImage}), so the answer equals the service's for the
 * same image and bundle.
 *
 * @param predictor The model (see `openPredictor`).
 * @returns The same document `POST /score` answers.
 * @throws {ScoreHttpError} 400 `bad_image` for an undecodable image, 400 `bad_request` for an unknown class.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * import { createDenseNet, openPredictor, saveBundle, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync();
 * await saveBundle(createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 }), dir, { modelVersion: "v1" });
 * const predictor = await openPredictor(dir, { engine: "tfjs" });
 * const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 128, g: 128, b: 128 } } })
 *   .png().toBuffer();
 * const result = await scoreLocal(predictor, png);
 * assert.equal(result.model.version, "v1");
 * assert.equal(result.top.probability, Math.max(...Object.values(result.probabilities)));
 * await predictor.dispose();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function scoreLocal(
  predictor: Predictor,
  image: Uint8Array,
  options: ScoreLocalOptions = {},
): Promise<ScoreResponseJson> {
  if (!(image instanceof Uint8Array)) throw new TypeError("scoreLocal: image must be a Uint8Array");
  return scoreImage(predictor, { image, heatmap: options.heatmap ?? false, className: options.className });
}
