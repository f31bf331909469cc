/**
 * The scoring service's wire format, typed at the edge: what a client sends to `POST /score`, what the
 * service answers, and the error document of every non-200 answer. {@linkcode parseScoreRequest} is the
 * server's one parse function, {@linkcode parseScoreResponse} the client's.
 *
 * Request: a raw PNG, JPEG or DICOM body with its options in the query (`?heatmap=1&class=Mass`), or a
 * {@linkcode ScoreRequestJson}. Answer: a {@linkcode ScoreResponseJson}, or a {@linkcode ScoreErrorJson}.
 *
 * @module
 */
import { FINDINGS } from "../nih/mod.ts";
import { CxrSyntaxError } from "../errors.ts";
import { jsonErrorOffset, lineColumn } from "../json_position.ts";
import { ServeError } from "./errors.ts";
import {
  base64ToBytes,
  JsonScanError,
  lineColumnBytes,
  scanRequestJson,
  unescapeAscii,
} from "./_request_json.ts";

/**
 * The `code` of an error document, one per cause a client can tell apart. `client_closed` (status 499) is
 * never seen by a client: it counts and logs a client that went away before its body arrived.
 */
export const SCORE_ERROR_CODES = [
  "unauthorized",
  "too_large",
  "unsupported_media_type",
  "bad_image",
  "bad_request",
  "busy",
  "timeout",
  "not_ready",
  "not_found",
  "client_closed",
  "internal",
] as const;
/** One of {@linkcode SCORE_ERROR_CODES}. */
export type ScoreErrorCode = typeof SCORE_ERROR_CODES[number];

/** Content types `POST /score` accepts. */
export const SCORE_CONTENT_TYPES = [
  "image/png",
  "image/jpeg",
  "application/dicom",
  "application/json",
] as const;

/** The JSON request body of `POST /score`. */
export interface ScoreRequestJson {
  /** The PNG, JPEG or uncompressed DICOM file, base64 (a `data:image/...;base64,` prefix is allowed). */
  image: string;
  /** Also return a class activation heatmap. @default false */
  heatmap?: boolean;
  /** The finding the heatmap is drawn for. @default the top finding */
  class?: string;
}

/** The 200 response body of `POST /score`. */
export interface ScoreResponseJson {
  /** The model bundle that scored: its architecture name and version. */
  model: { name: string; version: string };
  /** Probability per finding, in the bundle's class order. */
  probabilities: Record<string, number>;
  /** The most probable finding. */
  top: { class: string; probability: number };
  /** Heatmap over the X-ray, a base64 PNG; only when asked for. */
  heatmap?: string;
  /** The finding the heatmap shows; only with `heatmap`. */
  heatmapClass?: string;
}

/** The body of every non-200 answer. */
export interface ScoreErrorJson {
  error: { status: number; code: ScoreErrorCode; message: string };
}

/** A parsed scoring request: image bytes (PNG, JPEG or DICOM), heatmap flag, its finding (default: the top one). */
export interface ScoreRequest {
  image: Uint8Array;
  heatmap: boolean;
  className?: string | undefined;
}

/**
 * A request the client can fix (or a refusal such as busy/timeout): carries its HTTP status and error code
 * and renders as a {@linkcode ScoreErrorJson} (hono's `HTTPException`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new ScoreHttpError("Content-Type text/plain is not accepted", 415, "unsupported_media_type");
 * assert.deepEqual(e.toJSON(), { error: { status: 415, code: "unsupported_media_type", message: e.message } });
 * ```
 */
export class ScoreHttpError extends ServeError {
  /** Extra response headers (`Retry-After`, `Allow`, `WWW-Authenticate`). */
  readonly headers: Record<string, string>;
  /**
   * @param message What the client did wrong or why the service refused, as the error document says it.
   * @param status HTTP status, 400..599.
   * @param code Machine-readable cause.
   * @param options `headers`: extra response headers; `cause`: the error behind this one.
   */
  constructor(
    message: string,
    readonly status: number,
    readonly code: ScoreErrorCode,
    options?: ErrorOptions & { headers?: Record<string, string> },
  ) {
    super(message, options);
    this.headers = options?.headers ?? {};
  }
  /** The error document. */
  toJSON(): ScoreErrorJson {
    return { error: { status: this.status, code: this.code, message: this.message } };
  }
}

/**
 * A request or response body that is not valid JSON or not of the expected shape; `file` names the body
 * (`"request body"`, or the service's URL), `line`/`column` (1-based) where the problem is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new ScoreFormatError("bad", "request body", 1, 9);
 * assert.ok(e instanceof SyntaxError);
 * assert.deepEqual([e.file, e.column], ["request body", 9]);
 * ```
 */
export class ScoreFormatError extends CxrSyntaxError {}

/**
 * A scoring service answered with an error document (client side): its status, code and message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new ScoringServiceError("missing key", 401, "unauthorized", "http://x/score");
 * assert.match(e.message, /http:\/\/x\/score answered 401 unauthorized: missing key/);
 * ```
 */
export class ScoringServiceError extends ServeError {
  /**
   * @param serviceMessage The service's own message; the message says `<source> answered <status> <code>: <it>`.
   * @param code The error code (`internal` when the body had none).
   * @param source The service's URL (or name).
   */
  constructor(
    readonly serviceMessage: string,
    readonly status: number,
    readonly code: ScoreErrorCode,
    source: string,
    options?: ErrorOptions,
  ) {
    super(`${source} answered ${status} ${code}: ${serviceMessage}`, options);
  }
}

/** Options of {@linkcode parseScoreRequest}. */
export interface ParseScoreRequestOptions {
  /** Query of a raw-image request (`heatmap`, `class`). @default none */
  query?: URLSearchParams;
  /** Class names a heatmap may be asked for. @default the 14 ChestX-ray14 findings */
  classNames?: readonly string[];
}

const REQUEST = "request body";

/**
 * Checks a `POST /score` Content-Type header before the body is read.
 *
 * @param contentType the header's value.
 * @returns the media type, lower case, without parameters.
 * @throws {ScoreHttpError} 415 `unsupported_media_type` listing the accepted types.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(scoreMediaType("application/json; charset=utf-8"), "application/json");
 * assert.throws(() => scoreMediaType(null), /Content-Type "\(none\)" is not accepted/);
 * ```
 */
export function scoreMediaType(contentType: string | null): typeof SCORE_CONTENT_TYPES[number] {
  const type = (contentType ?? "").split(";", 1)[0]!.trim().toLowerCase(); // split always gives one
  if (!(SCORE_CONTENT_TYPES as readonly string[]).includes(type)) {
    throw new ScoreHttpError(
      `Content-Type "${type || "(none)"}" is not accepted; send one of: ${SCORE_CONTENT_TYPES.join(", ")}`,
      415,
      "unsupported_media_type",
    );
  }
  return type as typeof SCORE_CONTENT_TYPES[number];
}

/**
 * Parses the body of `POST /score`.
 *
 * A JSON body is read from its bytes, not through `JSON.parse`: it must be one object with a string `image`
 * and optional `heatmap` (true/false) and `class` (string); an array or object as a value, an unknown or
 * repeated field, or a value of the wrong type is refused where it starts, before anything is built, and the
 * base64 is decoded straight into bytes.
 *
 * @param body the request body, already read (and size-limited) by the caller.
 * @param contentType the `Content-Type` header (`image/png`, `image/jpeg`, `application/dicom`, `application/json`).
 * @returns image bytes, heatmap flag and heatmap class.
 * @throws {ScoreHttpError} 415 for another content type; 400 `bad_request` for an empty body, invalid JSON
 * (message with line and column, `cause` a {@linkcode ScoreFormatError}), a wrong, unknown or repeated field,
 * a nested array or object, bad base64 or an unknown class (listing the valid ones).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
 * const raw = parseScoreRequest(png, "image/png", { query: new URLSearchParams("heatmap=1&class=Mass") });
 * assert.deepEqual(raw, { image: png, heatmap: true, className: "Mass" });
 * const json = new TextEncoder().encode('{"image": "iVBORw==", "heatmap": false}');
 * assert.deepEqual(parseScoreRequest(json, "application/json").image, png);
 * assert.throws(() => parseScoreRequest(png, "text/plain"), /Content-Type "text\/plain" is not accepted/);
 * assert.throws(() => parseScoreRequest(new TextEncoder().encode('{"image": 3}'), "application/json"),
 *   /request body at line 1, column 2: "image" must be a base64 string, not a number/);
 * assert.throws(() => parseScoreRequest(new TextEncoder().encode('{"image": [[[[[[[[[[[[[['), "application/json"),
 *   /"image" must be a base64 string, not an array/);
 * ```
 */
export function parseScoreRequest(
  body: Uint8Array,
  contentType: string | null,
  options: ParseScoreRequestOptions = {},
): ScoreRequest {
  const type = scoreMediaType(contentType);
  const classNames = options.classNames ?? FINDINGS;
  if (body.length === 0) throw new ScoreHttpError("The request body is empty", 400, "bad_request");
  if (type !== "application/json") {
    const flag = options.query?.get("heatmap") ?? null;
    const truthy = ["1", "true", "yes"];
    const falsy = ["0", "false", "no", ""];
    if (flag !== null && !truthy.includes(flag) && !falsy.includes(flag)) {
      throw new ScoreHttpError(`Query parameter heatmap="${flag}" must be 1 or 0`, 400, "bad_request");
    }
    const className = options.query?.get("class") ?? undefined;
    checkClass(className, classNames, "query parameter class");
    return { image: body, heatmap: flag !== null && truthy.includes(flag), className };
  }
  const fail = (offset: number, what: string, cause?: unknown): never => {
    const { line, column } = lineColumnBytes(body, offset);
    const message = `Cannot read the ${REQUEST} at line ${line}, column ${column}: ${what}`;
    throw new ScoreHttpError(message, 400, "bad_request", {
      cause: new ScoreFormatError(message, REQUEST, line, column, { cause }),
    });
  };
  let scanned: ReturnType<typeof scanRequestJson>;
  try {
    scanned = scanRequestJson(body);
  } catch (e) {
    if (!(e instanceof JsonScanError)) throw e;
    return fail(e.offset, e.what);
  }
  const { image: range } = scanned;
  if (!range) return fail(0, '"image" must be a base64 string');
  let image: Uint8Array;
  try {
    image = range.escaped
      ? base64ToBytes(unescapeAscii(body, range.start, range.end))
      : base64ToBytes(body, range.start, range.end);
  } catch (e) {
    return fail(range.keyAt, `"image": ${(e as Error).message}`, e);
  }
  if (image.length === 0) fail(range.keyAt, '"image" is empty');
  checkClass(scanned.className, classNames, '"class"');
  return { image, heatmap: scanned.heatmap === true, className: scanned.className };
}

function checkClass(name: string | undefined, classNames: readonly string[], where: string): void {
  if (name !== undefined && !classNames.includes(name)) {
    throw new ScoreHttpError(
      `Unknown finding "${name.slice(0, 60)}" in ${where}; valid: ${classNames.join(", ")}`,
      400,
      "bad_request",
    );
  }
}

/** Options of {@linkcode parseScoreResponse}. */
export interface ParseScoreResponseOptions {
  /** What answered, for messages (e.g. the URL). @default "scoring service" */
  source?: string;
  /** Class names the probabilities must have, in order. @default any names */
  classNames?: readonly string[];
}

/**
 * Parses a scoring service's answer (client side).
 *
 * @param text the response body.
 * @returns the validated 200 body.
 * @throws {ScoringServiceError} for any status other than 200 (code and message from its error document);
 * {@linkcode ScoreFormatError} for a 200 body that is not JSON of the documented shape.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const ok = '{"model": {"name": "densenet", "version": "v1"}, "probabilities": {"Mass": 0.75},' +
 *   ' "top": {"class": "Mass", "probability": 0.75}}';
 * assert.equal(parseScoreResponse(ok, 200).top.class, "Mass");
 * assert.throws(() => parseScoreResponse('{"error": {"status": 503, "code": "busy", "message": "queue full"}}', 503),
 *   (e: unknown) => e instanceof ScoringServiceError && e.code === "busy");
 * assert.throws(() => parseScoreResponse('{"model": 1}', 200, { source: "http://h/score" }),
 *   /http:\/\/h\/score at line 1, column 2: "model" must be/);
 * ```
 */
export function parseScoreResponse(
  text: string,
  status: number,
  options: ParseScoreResponseOptions = {},
): ScoreResponseJson {
  const source = options.source ?? "scoring service";
  if (status !== 200) {
    let doc: Partial<ScoreErrorJson["error"]> | undefined;
    try {
      doc = (JSON.parse(text) as ScoreErrorJson)?.error;
    } catch { /* not an error document: report the text itself */ }
    const code = (SCORE_ERROR_CODES as readonly unknown[]).includes(doc?.code)
      ? doc!.code as ScoreErrorCode
      : "internal";
    const message = typeof doc?.message === "string"
      ? doc.message
      : text.trim().slice(0, 200) || "(empty body)";
    throw new ScoringServiceError(message, status, code, source);
  }
  const fail = (offset: number, what: string, cause?: unknown): never => {
    const { line, column } = lineColumn(text, offset);
    const message = `Cannot read the answer of ${source} at line ${line}, column ${column}: ${what}`;
    throw new ScoreFormatError(message, source, line, column, { cause });
  };
  const at = (key: string) => Math.max(0, text.indexOf(`"${key}"`));
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(jsonErrorOffset(text), `invalid JSON (${(e as Error).message.split("\n", 1)[0]!.slice(0, 80)})`, e);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail(0, "expected an object");
  const obj = raw as Record<string, unknown>;
  const model = obj.model as Record<string, unknown> | undefined;
  if (typeof model?.name !== "string" || typeof model?.version !== "string") {
    fail(at("model"), '"model" must be {"name": string, "version": string}');
  }
  const probs = obj.probabilities as Record<string, unknown> | undefined;
  if (typeof probs !== "object" || probs === null || Array.isArray(probs)) {
    fail(at("probabilities"), '"probabilities" must be an object of numbers by finding');
  }
  for (const [name, p] of Object.entries(probs!)) {
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
      fail(at(name), `probability of "${name}" must be a number 0..1, got ${JSON.stringify(p)}`);
    }
  }
  const want = options.classNames;
  const names = Object.keys(probs!);
  if (want && names.join("\n") !== want.join("\n")) {
    fail(at("probabilities"), `expected the classes ${want.join(", ")}; got ${names.join(", ")}`);
  }
  const top = obj.top as Record<string, unknown> | undefined;
  if (typeof top?.class !== "string" || !(top.class in probs!) || typeof top.probability !== "number") {
    fail(at("top"), '"top" must be {"class": one of the probabilities\' names, "probability": number}');
  }
  if (obj.heatmap !== undefined && typeof obj.heatmap !== "string") {
    fail(at("heatmap"), '"heatmap" must be a base64 PNG string');
  }
  if (
    obj.heatmapClass !== undefined && (typeof obj.heatmapClass !== "string" || !(obj.heatmapClass in probs!))
  ) {
    fail(at("heatmapClass"), '"heatmapClass" must be one of the probabilities\' names');
  }
  const out: ScoreResponseJson = {
    model: { name: model!.name as string, version: model!.version as string },
    probabilities: probs as Record<string, number>,
    top: { class: top!.class as string, probability: top!.probability as number },
  };
  if (obj.heatmap !== undefined) out.heatmap = obj.heatmap as string;
  if (obj.heatmapClass !== undefined) out.heatmapClass = obj.heatmapClass as string;
  return out;
}
