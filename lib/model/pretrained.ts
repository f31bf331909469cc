/**
 * Pretrained weights as a contract: `train --init imagenet` starts from the very file Keras Applications
 * loads for `DenseNet121(weights="imagenet", include_top=False)`, checked against the md5 Keras itself
 * checks, downloaded once into a cache folder outside the work tree (`CXR_WEIGHTS_CACHE`) from a base URL
 * that is a setting (`CXR_WEIGHTS_BASE_URL`: a mirror, or an Azure Blob container URL with a SAS query).
 *
 * @module
 */
import { mkdir, open, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import h5wasm from "h5wasm/node";
import { defaultWeightsCacheDir } from "../config.ts";
import { redactSecrets, registerSecret } from "../secrets.ts";
import { Progress, type ProgressOptions } from "../progress.ts";
import {
  ChecksumMismatchError,
  displayUrl,
  DownloadError,
  downloadFile,
  type DownloadProgress,
} from "../nih/download.ts";
import { ModelError } from "./errors.ts";

/**
 * Keras Applications' DenseNet-121 ImageNet "notop" weights: file name, md5 (as `keras.utils.get_file`
 * checks it) and URL. The size is not pinned (`bytes` is absent): a download is judged by its md5.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(IMAGENET_WEIGHTS.url, IMAGENET_WEIGHTS.baseUrl + IMAGENET_WEIGHTS.file);
 * assert.equal(IMAGENET_WEIGHTS.md5, "4912a53fbd2a69346e7f2c0b5ec8c6d3");
 * ```
 */
export const IMAGENET_WEIGHTS: Readonly<
  { file: string; md5: string; baseUrl: string; url: string; bytes?: number }
> = Object.freeze({
  file: "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
  md5: "4912a53fbd2a69346e7f2c0b5ec8c6d3",
  baseUrl: "https://storage.googleapis.com/tensorflow/keras-applications/densenet/",
  url: "https://storage.googleapis.com/tensorflow/keras-applications/densenet/" +
    "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
});

/** Options of {@linkcode ensureImagenetWeights}. */
export interface PretrainedOptions {
  /** Where the file is downloaded from: `<baseUrl>/<file>`, a query (SAS) kept after the file name. @default IMAGENET_WEIGHTS.baseUrl */
  baseUrl?: string;
  /** Cache folder (the `weightsCacheDir` setting). @default defaultWeightsCacheDir() */
  cacheDir?: string;
  /** Expected md5, for tests serving another file. @default IMAGENET_WEIGHTS.md5 */
  md5?: string;
  /** Called as bytes arrive (`download`) or are hashed (`verify`); see {@linkcode weightsProgress}. */
  onProgress?: (e: DownloadProgress) => void;
  /** Cancels the download; the `.part` file is kept for the next call to resume. */
  signal?: AbortSignal;
  /** Further attempts after a failed one. @default 3 */
  retries?: number;
  /** First wait between attempts, doubled each time. @default 1000 */
  backoffMs?: number;
}

/** The weights file ready for use, as {@linkcode ensureImagenetWeights} returns it. */
export interface PretrainedWeights {
  /** Which weights. */
  source: "imagenet";
  /** Absolute path of the verified file. */
  path: string;
  /** Its md5. */
  md5: string;
  /** Where it comes from, without any query string (no SAS token). */
  url: string;
  /** `downloaded` now, or found in the cache (no request made). */
  status: "downloaded" | "cached";
  /** Its size. */
  bytes: number;
}

/**
 * Why {@linkcode PretrainedWeightsError} was thrown: offline or unreachable (`network`), an HTTP error such as
 * 404 (`http`), a wrong md5 or size (`mismatch`), a file that is not Keras HDF5 weights (`invalid`), or a cache
 * folder that cannot be written (`cache`).
 */
export type PretrainedFailure = "network" | "http" | "mismatch" | "invalid" | "cache";

/**
 * The pretrained weights cannot be had (see {@linkcode PretrainedFailure}). The message names the URL (never
 * its query), the expected md5 and the path where a copy fetched by hand can be put.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new PretrainedWeightsError("HTTP 404 Not Found", { url: "https://m/w.h5?sig=abcdefgh", md5: "0".repeat(32), dest: "/c/w.h5", reason: "http" });
 * assert.equal(e.url, "https://m/w.h5");
 * assert.match(e.message, /put it at \/c\/w\.h5/);
 * ```
 */
export class PretrainedWeightsError extends ModelError {
  /** The URL, without its query string. */
  url: string;
  /** The expected md5. */
  md5: string;
  /** Where the file belongs (put a copy fetched by hand here). */
  dest: string;
  /** What went wrong. */
  reason: PretrainedFailure;
  /** The HTTP status, for `http`. */
  status?: number | undefined;
  constructor(
    detail: string,
    init: { url: string; md5: string; dest: string; reason: PretrainedFailure; status?: number | undefined },
    options?: ErrorOptions,
  ) {
    const url = displayUrl(init.url);
    super(
      `Cannot get the ImageNet DenseNet-121 weights from ${url}: ${scrub(detail)}. ` +
        `To provide them by hand, download ${url} by other means, check that its md5 is ${init.md5}, ` +
        `and put it at ${init.dest}` +
        (init.reason === "network"
          ? " (or set CXR_WEIGHTS_BASE_URL to a mirror this machine can reach)"
          : ""),
      options,
    );
    this.url = url;
    this.md5 = init.md5;
    this.dest = init.dest;
    this.reason = init.reason;
    this.status = init.status;
  }
}

/** Drops query strings from URLs in `text` and scrubs registered secrets. */
function scrub(text: string): string {
  return redactSecrets(text.replace(/(\bhttps?:\/\/[^\s?#"'()<>]+)[?#][^\s"'()<>]*/gi, "$1"));
}

/** A copy of `e` (and its causes) with every URL query and secret scrubbed from message and stack. */
function scrubError(e: unknown, depth = 0): unknown {
  if (!(e instanceof Error) || depth > 8) return e;
  const cause = e.cause === undefined ? undefined : { cause: scrubError(e.cause, depth + 1) };
  const copy = new Error(scrub(e.message), cause);
  copy.name = e.name;
  if (e.stack === undefined) delete copy.stack;
  else copy.stack = scrub(e.stack);
  return copy;
}

/**
 * The URL of `file` under `baseUrl`: the file name joins the path (one `/` between), and a query string
 * (an Azure SAS token, say) stays after it.
 *
 * @throws {TypeError} when `baseUrl` is not an http(s) URL (the message leaves its query out).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(weightsFileUrl("https://m.example/keras/", "w.h5"), "https://m.example/keras/w.h5");
 * assert.equal(weightsFileUrl("https://a.blob.core.windows.net/weights?sv=1&sig=x", "w.h5"), "https://a.blob.core.windows.net/weights/w.h5?sv=1&sig=x");
 * ```
 */
export function weightsFileUrl(baseUrl: string, file: string): string {
  let u: URL | undefined;
  try {
    u = new URL(baseUrl);
  } catch { /* reported below */ }
  if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) {
    throw new TypeError(
      `weightsFileUrl: baseUrl must be an http(s) URL, got "${baseUrl.replace(/[?#].*$/s, "")}"`,
    );
  }
  u.hash = "";
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/${encodeURIComponent(file)}`;
  return u.href;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Why `path` is not a Keras HDF5 weights file, or `undefined` when it is one (signature + `layer_names`). */
async function kerasH5Problem(path: string): Promise<string | undefined> {
  const head = new Uint8Array(64);
  const f = await open(path, "r");
  let n: number;
  try {
    n = (await f.read(head, 0, head.length, 0)).bytesRead;
  } finally {
    await f.close();
  }
  if (!HDF5_SIGNATURE.every((b, i) => head[i] === b)) {
    const text = new TextDecoder().decode(head.subarray(0, n)).trimStart();
    return text.startsWith("<")
      ? "the server answered with an HTML or XML page (an error or sign-in page?), not an HDF5 file"
      : "the downloaded file is not an HDF5 file (no HDF5 signature at byte 0)";
  }
  await h5wasm.ready;
  let h5;
  try {
    h5 = new h5wasm.File(path, "r");
  } catch (e) {
    return `the downloaded file cannot be opened as HDF5 (${(e as Error).message.split("\n")[0]})`;
  }
  try {
    const root = h5.keys().includes("model_weights") ? h5.get("model_weights") : h5;
    const attrs = Object.keys((root as { attrs: Record<string, unknown> }).attrs ?? {});
    if (!attrs.includes("layer_names") && !attrs.includes("layer_names0")) {
      return "the downloaded HDF5 file has no layer_names attribute, so it holds no Keras weights";
    }
  } finally {
    h5.close();
  }
  return undefined;
}

/**
 * Makes sure Keras Applications' DenseNet-121 ImageNet "notop" weights are in the cache folder, verified,
 * and returns where. A file already there is used when its md5 is right (trusted through its `.md5`
 * sidecar while size and mtime are unchanged, so 32 MB are not re-hashed each run); a wrong one is deleted
 * and downloaded again. A download ({@linkcode downloadFile}) resumes its `<file>.part`, retries with
 * backoff, and becomes `<file>` only once its md5 is right and it opens as HDF5 with `layer_names`.
 *
 * @throws {PretrainedWeightsError} when offline, on an HTTP error, a wrong md5 or a file that is not Keras
 *   HDF5 weights, or when the cache folder cannot be written; the message says where to put the file by hand.
 * @throws {TypeError} on a malformed `baseUrl` or `md5`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const cacheDir = await Deno.makeTempDir();
 * // Port 9 cannot be fetched, as when offline: the error says what to fetch, its md5, and where to put it.
 * await assert.rejects(
 *   ensureImagenetWeights({ baseUrl: "http://127.0.0.1:9/keras/", cacheDir, retries: 0 }),
 *   (e: unknown) =>
 *     e instanceof PretrainedWeightsError && e.reason === "network" &&
 *     e.message.includes(IMAGENET_WEIGHTS.md5) && e.message.includes(`${cacheDir}/${IMAGENET_WEIGHTS.file}`),
 * );
 * await Deno.remove(cacheDir, { recursive: true });
 * ```
 */
export async function ensureImagenetWeights(options: PretrainedOptions = {}): Promise<PretrainedWeights> {
  const md5 = (options.md5 ?? IMAGENET_WEIGHTS.md5).toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(md5)) {
    throw new TypeError(`ensureImagenetWeights: md5 must be 32 hex digits, got "${options.md5}"`);
  }
  const url = weightsFileUrl(options.baseUrl ?? IMAGENET_WEIGHTS.baseUrl, IMAGENET_WEIGHTS.file);
  const query = new URL(url).search.slice(1);
  if (query) registerSecret(query);
  const cacheDir = resolve(options.cacheDir ?? defaultWeightsCacheDir());
  const dest = join(cacheDir, IMAGENET_WEIGHTS.file);
  const fail = (reason: PretrainedFailure, detail: string, cause?: unknown, status?: number) =>
    new PretrainedWeightsError(
      detail,
      { url, md5, dest, reason, status },
      cause === undefined ? undefined : { cause: query ? scrubError(cause) : cause },
    );

  try {
    await mkdir(cacheDir, { recursive: true });
  } catch (e) {
    throw fail(
      "cache",
      `cannot create the cache folder "${cacheDir}" (${(e as Error).message}); set CXR_WEIGHTS_CACHE`,
      e,
    );
  }
  const hadCopy = await stat(dest).then(() => true, () => false);
  let result;
  try {
    const { baseUrl: _baseUrl, cacheDir: _cacheDir, md5: _md5, ...download } = options;
    result = await downloadFile(url, dest, {
      ...download,
      md5,
      ...(options.md5 === undefined ? { bytes: IMAGENET_WEIGHTS.bytes } : {}),
    });
  } catch (e) {
    if (options.signal?.aborted) throw e;
    const removed = hadCopy && !(await stat(dest).then(() => true, () => false))
      ? "; the copy in the cache had the wrong md5 and was removed"
      : "";
    if (e instanceof ChecksumMismatchError) {
      throw fail(
        "mismatch",
        `the downloaded file has ${e.kind} ${e.actual}, expected ${e.expected}` +
          " (an error page or another file?); it was deleted" + removed,
        e,
      );
    }
    if (e instanceof DownloadError) {
      const detail = e.message.replace(/^Cannot download \S+: /, "");
      if (e.status !== undefined) throw fail("http", detail + removed, e, e.status);
      throw fail(
        "network",
        `cannot reach the server, or the connection kept breaking (${detail})${removed}`,
        e,
      );
    }
    throw fail("cache", `${(e as Error)?.message ?? e} (in "${cacheDir}")${removed}`, e);
  }
  if (result.status === "downloaded") {
    const problem = await kerasH5Problem(dest);
    if (problem) {
      await rm(dest, { force: true });
      await rm(`${dest}.md5`, { force: true });
      throw fail("invalid", `${problem}; it was deleted`);
    }
  }
  return {
    source: "imagenet",
    path: dest,
    md5: result.md5,
    url: displayUrl(url),
    status: result.status === "skipped" ? "cached" : "downloaded",
    bytes: result.bytes,
  };
}

/** A byte-progress display for {@linkcode ensureImagenetWeights}, as {@linkcode weightsProgress} makes it. */
export interface WeightsProgressDisplay {
  /** Pass as `onProgress`. */
  onProgress: (e: DownloadProgress) => void;
  /** Draws the final state; call when the download ended (also after an error). */
  finish(message?: string): void;
}

/**
 * A progress bar in bytes for the weights download: one {@linkcode Progress} per phase (`verify` while a
 * cached or partial file is hashed, `download` while bytes arrive), drawn as a terminal bar, a live notebook
 * display or periodic lines, like `data fetch` does for the NIH archives.
 *
 * @param options Passed to each {@linkcode Progress} (mode, write, intervalMs); the label is set here.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const p = weightsProgress({ mode: "lines", write: (s) => lines.push(s), intervalMs: 0 });
 * p.onProgress({ phase: "download", bytesDone: 512, bytesTotal: 1024 });
 * p.onProgress({ phase: "download", bytesDone: 1024, bytesTotal: 1024 });
 * p.finish();
 * assert.match(lines.at(-1)!, /^download densenet121_.*notop\.h5 1\.0 KiB\/1\.0 KiB 100%/);
 * ```
 */
export function weightsProgress(
  options: Omit<ProgressOptions, "label" | "total" | "unit"> = {},
): WeightsProgressDisplay {
  let current: { phase: string; bar: Progress } | undefined;
  return {
    onProgress(e) {
      if (current?.phase !== e.phase) {
        current?.bar.finish();
        const total = e.bytesTotal === undefined ? {} : { total: e.bytesTotal };
        const label = `${e.phase} ${IMAGENET_WEIGHTS.file}`;
        current = { phase: e.phase, bar: new Progress({ ...options, label, ...total, unit: "bytes" }) };
      }
      current.bar.update(e.bytesDone, e.bytesTotal);
    },
    finish(message) {
      current?.bar.finish(message);
    },
  };
}
