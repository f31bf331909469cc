/**
 * Batch scoring: many images (files, a folder, blobs) through one scorer (a local model or a remote scoring
 * service), a bounded number in flight, one result line per image in the input's order, failures recorded as
 * lines while the run goes on.
 *
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import { Buffer } from "node:buffer";
import { mapPool } from "../pool.ts";
import type { BlobStore } from "../storage/mod.ts";
import { ScoreHttpError, ScoringServiceError } from "./score_format.ts";

/** One image to score: its name in the output and how to get its bytes. */
export interface ImageSource {
  /** Name written as `"image"` in its result line (a file's base name, a blob's name). */
  name: string;
  /** Where it is (absolute path, `container/blob`): tells apart equal names, and the same image twice. */
  location: string;
  /** Reads the encoded image (PNG/JPEG). */
  read(): Promise<Uint8Array>;
}

/** File extensions taken as images when a folder or a blob prefix is listed. */
export const IMAGE_EXTENSIONS: readonly string[] = [".png", ".jpg", ".jpeg"];

function isImage(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/**
 * Sources for image files: each named by its base name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [s] = fileSources(["/tmp/x/00000001_000.png"]);
 * assert.equal(s?.name, "00000001_000.png");
 * assert.equal(s?.location, "/tmp/x/00000001_000.png");
 * ```
 */
export function fileSources(paths: readonly string[]): ImageSource[] {
  return paths.map((p) => {
    const location = resolve(p);
    return { name: basename(p), location, read: () => Deno.readFile(location) };
  });
}

/**
 * Sources for the images (`.png`, `.jpg`, `.jpeg`) directly in `dir`, or for the given file names in it
 * (a name that does not exist there fails when read, as its own error line).
 *
 * @throws {Deno.errors.NotFound} If `dir` does not exist (when listing).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/b.png`, "x");
 * Deno.writeTextFileSync(`${dir}/a.txt`, "x");
 * assert.deepEqual(folderSources(dir).map((s) => s.name), ["b.png"]);
 * assert.deepEqual(folderSources(dir, ["c.png"]).map((s) => s.name), ["c.png"]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function folderSources(dir: string, names?: readonly string[]): ImageSource[] {
  const list = names ?? readdirSync(dir).filter(isImage);
  return fileSources(list.map((n) => join(dir, n)));
}

/**
 * Reads an image list: one name or path per line; blank lines and `#` comments are skipped (NIH's
 * `test_list.txt` is one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const file = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(file, "# test\n00000001_000.png\n\n 00000002_000.png \n");
 * assert.deepEqual(readImageList(file), ["00000001_000.png", "00000002_000.png"]);
 * ```
 */
export function readImageList(file: string): string[] {
  const lines = readFileSync(file, "utf8").split(/\r?\n/).map((l) => l.trim());
  return lines.filter((l) => l && !l.startsWith("#"));
}

/**
 * Sources for the image blobs of `container` under the folder `prefix` (`images` and `images/` alike; `""`
 * is the whole container), or, with `names`, for each name in that folder without listing. Each is named
 * by its blob name relative to the folder (`images/00000001_000.png` is `00000001_000.png`, as on disk).
 * Reading one downloads it, verified, into `tmpDir` and removes the file.
 *
 * @param container The container (the workflow's images container).
 * @throws {ContainerNotFoundError} When listing a container that does not exist.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * import { connectStorage } from "../storage/mod.ts";
 * const dir = Deno.makeTempDirSync();
 * const settings = loadSettings({ env: { CXR_AZURITE_DIR: dir, CXR_AZURITE_PORT: "0" }, envFile: false });
 * const conn = await connectStorage(settings, { ensureContainers: true });
 * Deno.writeTextFileSync(`${dir}/x.png`, "png bytes");
 * await conn.store.uploadFile(`${dir}/x.png`, { container: "nih-images", name: "set1/x.png" });
 * const [source] = await blobSources(conn.store, "nih-images", { prefix: "set1", tmpDir: dir });
 * assert.ok(source);
 * assert.equal(source.name, "x.png");
 * assert.equal(source.location, "nih-images/set1/x.png");
 * assert.equal(new TextDecoder().decode(await source.read()), "png bytes");
 * await conn.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function blobSources(
  store: BlobStore,
  container: string,
  options: { prefix?: string; names?: readonly string[] | undefined; tmpDir: string },
): Promise<ImageSource[]> {
  const trimmed = (options.prefix ?? "").replace(/^\/+/, "").replace(/\/+$/, "");
  const folder = trimmed === "" ? "" : trimmed + "/";
  const blobs = options.names?.map((n) => folder + n) ??
    (await Array.fromAsync(store.list(container, folder))).map((b) => b.name).filter(isImage);
  let counter = 0;
  return blobs.map((name) => ({
    name: name.slice(folder.length),
    location: `${container}/${name}`,
    read: async () => {
      const file = join(options.tmpDir, `${counter++}${extname(name)}`);
      try {
        await store.downloadFile({ container, name }, file);
        return await Deno.readFile(file);
      } finally {
        rmSync(file, { force: true });
      }
    },
  }));
}

/**
 * Sorts sources by name (then location) and drops repeats of the same location, so that every shard of
 * the same inputs agrees on the order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const s = (name: string, location: string) => ({ name, location, read: async () => new Uint8Array() });
 * const sorted = sortSources([s("b", "/1/b"), s("a", "/2/a"), s("b", "/1/b"), s("a", "/1/a")]);
 * assert.deepEqual(sorted.map((x) => x.location), ["/1/a", "/2/a", "/1/b"]);
 * ```
 */
export function sortSources(sources: readonly ImageSource[]): ImageSource[] {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const sorted = [...sources].sort((a, b) => cmp(a.name, b.name) || cmp(a.location, b.location));
  return sorted.filter((s, i) => i === 0 || s.location !== sorted[i - 1]?.location);
}

/** The `error` of a failed image's line. */
export interface BatchLineError {
  /** The service's error code (`bad_image`, `unauthorized`, `busy`...); locally `bad_image` (undecodable),
   * `not_found` (no such file or blob), else `error`. */
  code: string;
  /** What went wrong. */
  message: string;
  /** HTTP status, when a service answered. */
  status?: number;
}

/**
 * One output line: `{"image": name, ...response}` (the heatmap's base64 left out, `heatmapFile` naming the
 * file it was written to) or `{"image": name, "error": {code, message, status?}}`.
 */
export interface BatchLine {
  /** The source's name. */
  image: string;
  /** Set on a failed image only. */
  error?: BatchLineError;
  /** The response's fields (model, probabilities, top, heatmapClass) and `heatmapFile`. */
  [field: string]: unknown;
}

/**
 * A progress event of {@linkcode scoreBatch}, after each image: images finished (scored or failed) of the
 * `total`, those that failed so far, and the name of the one just finished.
 */
export interface BatchProgress {
  done: number;
  total: number;
  failed: number;
  image: string;
}

/** Options of {@linkcode scoreBatch}. */
export interface ScoreBatchOptions {
  /** Images in flight at once. @default 2 */
  concurrency?: number;
  /** Receives each result line, in the order of `sources`. */
  onLine?: (line: BatchLine) => void | Promise<void>;
  /** Progress events, in completion order. */
  onProgress?: ((event: BatchProgress) => void) | undefined;
  /** Write each returned heatmap here as `<image stem>.heatmap.png` (the line names it as `heatmapFile`). */
  heatmapDir?: string | undefined;
}

/** What {@linkcode scoreBatch} did: images in all, scored and failed, the failures in input order, wall seconds. */
export interface BatchSummary {
  images: number;
  scored: number;
  failed: number;
  failures: { image: string; message: string }[];
  seconds: number;
}

/** An error line: a service error's code and status; locally `bad_image`, `not_found`, else `error`. */
function errorLine(image: string, e: unknown): BatchLine {
  const message = String((e as Error)?.message ?? e);
  if (e instanceof ScoringServiceError || e instanceof ScoreHttpError) {
    return { image, error: { code: e.code, message, status: e.status } };
  }
  const name = (e as Error)?.name;
  const code = name === "DecodeError"
    ? "bad_image"
    : e instanceof Deno.errors.NotFound || name === "BlobNotFoundError"
    ? "not_found"
    : "error";
  return { image, error: { code, message } };
}

/**
 * Scores every source with `scorer`, at most `concurrency` at a time. A source that cannot be read or
 * scored gives an error line and the batch goes on; lines come out in the order of `sources` whatever the
 * completion order, so a re-run or another shard layout gives byte-identical files.
 *
 * @param sources The images, in output order.
 * @param scorer Scores one encoded image (e.g. `scoreRemote` or `scoreLocal` bound to their target).
 * @throws {RangeError} If `concurrency` is not a positive integer.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const lines: unknown[] = [];
 * const sources = ["a.png", "b.png"].map((name) => ({ name, location: name, read: async () => new TextEncoder().encode(name) }));
 * const summary = await scoreBatch(sources, async (bytes) => {
 *   if (bytes[0] === 98) throw new Error("no b");
 *   return { top: { class: "Mass", probability: 0.9 } };
 * }, { onLine: (l) => void lines.push(l) });
 * assert.deepEqual(lines, [
 *   { image: "a.png", top: { class: "Mass", probability: 0.9 } },
 *   { image: "b.png", error: { code: "error", message: "no b" } },
 * ]);
 * assert.equal(summary.failed, 1);
 * ```
 */
export async function scoreBatch<T extends object>(
  sources: readonly ImageSource[],
  scorer: (image: Uint8Array, name: string) => Promise<T>,
  options: ScoreBatchOptions = {},
): Promise<BatchSummary> {
  const concurrency = options.concurrency ?? 2;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`scoreBatch: concurrency must be a positive integer, got ${concurrency}`);
  }
  const started = performance.now();
  if (options.heatmapDir) mkdirSync(options.heatmapDir, { recursive: true });
  const ready: (BatchLine | undefined)[] = new Array(sources.length);
  const failures: { image: string; message: string }[] = [];
  let emitted = 0, done = 0, failed = 0;
  let emitting: Promise<void> = Promise.resolve();
  const flush = async () => {
    while (emitted < sources.length && ready[emitted] !== undefined) {
      const line = ready[emitted]!;
      ready[emitted++] = undefined;
      if (line.error) failures.push({ image: line.image, message: line.error.message });
      await options.onLine?.(line);
    }
  };
  const one = async (source: ImageSource): Promise<BatchLine> => {
    const { name } = source;
    try {
      const response = await scorer(await source.read(), name);
      const { heatmap, ...rest } = response as { heatmap?: string }; // a base64 PNG, when one was asked for
      if (heatmap === undefined || !options.heatmapDir) return { image: name, ...rest };
      const file = join(options.heatmapDir, `${basename(name, extname(name))}.heatmap.png`);
      writeFileSync(file, Buffer.from(heatmap, "base64"));
      return { image: name, ...rest, heatmapFile: file };
    } catch (e) {
      return errorLine(name, e);
    }
  };
  await mapPool(sources, concurrency, async (source, i) => {
    const line = await one(source);
    if (line.error) failed++;
    ready[i] = line;
    done++;
    options.onProgress?.({ done, total: sources.length, failed, image: line.image });
    emitting = emitting.then(flush);
    await emitting;
  });
  await emitting;
  return {
    images: sources.length,
    scored: sources.length - failures.length,
    failed: failures.length,
    failures,
    seconds: (performance.now() - started) / 1000,
  };
}
