/**
 * Batch scoring as a job runs it: images from files, a folder, a list or the images blob container, sorted by
 * name, one shard of them (`i/N`, the same slice everywhere), scored by a scoring service or by a model bundle
 * in this process, the result lines written atomically to a file and/or uploaded as a blob. `deno task cxr
 * score` and the scoring Indexed Job are this function behind flags.
 *
 * @module
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { loadSettings, type Settings } from "../config.ts";
import { selectShard, type Shard } from "../shard.ts";
import { NoImagesError } from "../images/mod.ts";
import { connectStorage, type StorageConnection } from "../storage/mod.ts";
import { type EngineName, openPredictor, predictorEngine, selectBackend } from "../model/mod.ts";
import {
  type BatchLine,
  type BatchSummary,
  blobSources,
  fileSources,
  folderSources,
  type ImageSource,
  readImageList,
  scoreBatch,
  type ScoreBatchOptions,
  sortSources,
} from "./batch.ts";
import { scoreLocal, scoreRemote, scoreUrl } from "./client.ts";
import type { ScoreResponseJson } from "./score_format.ts";

/** The images to score, any of these together: sorted by name, the same location scored once. */
export interface ScoreInputs {
  /** Image files. */
  files?: readonly string[];
  /** A folder: its `.png`, `.jpg` and `.jpeg` files, or the names `list` gives. */
  folder?: string;
  /** A list file, one name a line: names in `folder` and under `fromBlob`, or paths without either. */
  list?: string;
  /** A folder of the images container (`images` and `images/` alike, `""` = all): its image blobs, named
   * relative to it, or the names `list` gives. */
  fromBlob?: string;
}

/**
 * What scores the images: the scoring service at `url` (with the key of the setting `CXR_SCORING_KEY`), or the
 * model bundle in the folder `model`, in this process (`engine` `auto`: ONNX when the bundle has `model.onnx`).
 */
export type ScorerSpec =
  | { url: string; timeoutMs?: number }
  | { model: string; engine?: EngineName | "auto" };

/** Options of {@linkcode scoreImages}. */
export interface ScoreImagesOptions extends Pick<ScoreBatchOptions, "onProgress"> {
  /** Score only this shard of the sorted images. */
  shard?: Shard;
  /** Write the lines to this file, atomically. `{i}` and `{n}` become the shard's index and count; a name
   * ending in `/` is a folder and gets `shard-<i>-of-<n>.jsonl` (`scores.jsonl` without a shard). */
  out?: string;
  /** Upload the lines as this blob (named as `out`). */
  toBlob?: string;
  /** Container of `toBlob`. @default the models container */
  toContainer?: string;
  /** Ask for heatmaps and write them here as `<image>.heatmap.png`. */
  heatmapDir?: string;
  /** Finding the heatmaps show. @default the top finding */
  className?: string;
  /** Images in flight at once. @default 4 with a URL, 2 with a model */
  concurrency?: number;
  /** Storage, the scoring key and the compute backend. @default loadSettings() */
  settings?: Settings;
  /** Called once the images are listed and the scorer is ready: its name, the images in the shard, in all. */
  onStart?: (event: { target: string; images: number; total: number }) => void;
  /** Receives each result line, in the order of the sorted images. */
  onLine?: (line: BatchLine) => void;
}

/**
 * What {@linkcode scoreImages} did: the batch's counts, the `target` (the scoring service's URL, or the model
 * folder and engine), the shard scored, the file written (absolute) and the blob uploaded.
 */
export interface ScoreImagesSummary extends BatchSummary {
  target: string;
  shard?: Shard;
  out?: string;
  blob?: { container: string; name: string };
}

/** `{i}`/`{n}` become the shard's index and count; a folder name (ending in `/`) gets a file name. */
function shardName(name: string, shard: Shard | undefined): string {
  const full = name.endsWith("/") ? name + (shard ? "shard-{i}-of-{n}.jsonl" : "scores.jsonl") : name;
  return full.replaceAll("{i}", String(shard?.index ?? 0)).replaceAll("{n}", String(shard?.count ?? 1));
}

/** Lines appended to `FILE.partial-PID`, renamed to `FILE` by `commit()` only when complete. */
function atomicLines(file: string) {
  const path = resolve(file);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.partial-${Deno.pid}`;
  const fd = openSync(tmp, "w");
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    path,
    write: (line: string) => void writeSync(fd, line + "\n"),
    commit() {
      close();
      renameSync(tmp, path);
    },
    abort() {
      close();
      rmSync(tmp, { force: true });
    },
  };
}

async function gatherSources(
  inputs: ScoreInputs,
  storage: () => Promise<StorageConnection>,
  tmpDir: string,
): Promise<ImageSource[]> {
  const { folder, fromBlob, list } = inputs;
  const names = list !== undefined ? readImageList(list) : undefined;
  const sources = fileSources(inputs.files ?? []);
  if (folder !== undefined) sources.push(...folderSources(folder, names));
  if (fromBlob !== undefined) {
    const { store, containers } = await storage();
    sources.push(...await blobSources(store, containers.images, { prefix: fromBlob, names, tmpDir }));
  }
  if (names && folder === undefined && fromBlob === undefined) sources.push(...fileSources(names));
  return sortSources(sources);
}

async function openScorer(spec: ScorerSpec, settings: Settings, options: {
  heatmap: boolean;
  className: string | undefined;
}): Promise<
  { score: (bytes: Uint8Array) => Promise<ScoreResponseJson>; close(): Promise<void>; target: string }
> {
  const { heatmap, className } = options;
  if ("url" in spec) {
    const { url, timeoutMs } = spec;
    const key = settings.scoringKey ?? null;
    return {
      target: scoreUrl(url),
      score: (bytes) => scoreRemote(url, bytes, { key, heatmap, className, timeoutMs }),
      close: () => Promise.resolve(),
    };
  }
  const { model: dir, engine = "auto" } = spec;
  if (predictorEngine(dir, engine) === "tfjs") await selectBackend(settings.backend);
  const predictor = await openPredictor(dir, { engine }).catch((e) => {
    throw new Error(`Cannot open the model bundle "${dir}": ${(e as Error).message}`, { cause: e });
  });
  return {
    target: `${resolve(dir)} (${predictor.engine})`,
    score: (bytes) => scoreLocal(predictor, bytes, { heatmap, className }),
    close: () => predictor.dispose(),
  };
}

/**
 * Scores the images `inputs` names (sorted by name; with `shard`, only its slice) with `scorer`: one JSON line
 * per image, in that order, an image that fails as an error line while the others go on (see
 * {@linkcode scoreBatch}). The lines go to `onLine`, to the file `out` (written to a temporary name and renamed
 * when complete) and to the blob `toBlob`.
 *
 * @throws {NoImagesError} When the inputs hold no image at all (an empty shard is fine: more shards than images).
 * @throws {TypeError} For a URL that is not one.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * import { createDenseNet, saveBundle, selectBackend } from "../model/mod.ts";
 * const dir = Deno.makeTempDirSync();
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 32 });
 * await saveBundle(model, `${dir}/bundle`, { modelVersion: "1", architecture: { name: "densenet-tiny" } });
 * model.dispose();
 * for (const name of ["b.png", "a.png", "c.png"]) {
 *   const grey = new Uint8Array(32 * 32).fill(name.charCodeAt(0));
 *   await sharp(grey, { raw: { width: 32, height: 32, channels: 1 } }).png().toFile(`${dir}/${name}`);
 * }
 * Deno.writeTextFileSync(`${dir}/broken.png`, "not a PNG");
 * const lines: string[] = [];
 * const summary = await scoreImages({ folder: dir }, { model: `${dir}/bundle`, engine: "tfjs" }, {
 *   shard: { index: 1, count: 2 },
 *   out: `${dir}/scores/`,
 *   onLine: (line) => void lines.push(line.image),
 * });
 * assert.deepEqual(lines, ["broken.png", "c.png"]);
 * assert.deepEqual([summary.images, summary.scored, summary.failed], [2, 1, 1]);
 * assert.equal(summary.out, `${dir}/scores/shard-1-of-2.jsonl`);
 * assert.equal(Deno.readTextFileSync(summary.out!).trim().split("\n").length, 2);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function scoreImages(
  inputs: ScoreInputs,
  scorer: ScorerSpec,
  options: ScoreImagesOptions = {},
): Promise<ScoreImagesSummary> {
  const settings = options.settings ?? loadSettings();
  const { shard, heatmapDir, className } = options;
  const outPath = options.out === undefined ? undefined : shardName(options.out, shard);
  const toBlob = options.toBlob === undefined ? undefined : shardName(options.toBlob, shard);
  let conn: StorageConnection | undefined;
  const storage = async () => conn ??= await connectStorage(settings);
  const tmp = mkdtempSync(join(tmpdir(), "cxr-score-"));
  let scoring: Awaited<ReturnType<typeof openScorer>> | undefined;
  let file: ReturnType<typeof atomicLines> | undefined;
  try {
    const all = await gatherSources(inputs, storage, tmp);
    if (all.length === 0) {
      const where = inputs.fromBlob ?? inputs.folder ?? inputs.list ?? "";
      const from = inputs.fromBlob !== undefined
        ? `blobs under "${where}" in the images container`
        : `files in "${where}"`;
      throw new NoImagesError(`No images to score: no .png, .jpg or .jpeg ${from}`, where, 0);
    }
    const sources = selectShard(all, shard);
    scoring = await openScorer(scorer, settings, { heatmap: heatmapDir !== undefined, className });
    options.onStart?.({ target: scoring.target, images: sources.length, total: all.length });
    const fileOut = outPath ?? (toBlob !== undefined ? join(tmp, "scores.jsonl") : undefined);
    file = fileOut ? atomicLines(fileOut) : undefined;
    const summary = await scoreBatch(sources, scoring.score, {
      concurrency: options.concurrency ?? ("url" in scorer ? 4 : 2),
      heatmapDir,
      onLine(line) {
        file?.write(JSON.stringify(line));
        options.onLine?.(line);
      },
      onProgress: options.onProgress,
    });
    file?.commit();
    let blob: ScoreImagesSummary["blob"];
    if (toBlob !== undefined) {
      const c = await storage();
      blob = { container: options.toContainer ?? c.containers.models, name: toBlob };
      await c.store.ensureContainer(blob.container);
      await c.store.uploadFile(file!.path, blob, { contentType: "application/x-ndjson" });
    }
    return {
      ...summary,
      target: scoring.target,
      ...(shard ? { shard } : {}),
      ...(outPath ? { out: resolve(outPath) } : {}),
      ...(blob ? { blob } : {}),
    };
  } catch (e) {
    file?.abort();
    throw e;
  } finally {
    await scoring?.close();
    await conn?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
