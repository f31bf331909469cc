/**
 * `deno task cxr score`: score images with a scoring service (`--url`) or a local model bundle (`--model`),
 * one JSON line per image; images from files, a folder, a list, or the images blob container; `--shard i/N`
 * (or `env/N` in a Kubernetes Indexed Job) scores one slice of the sorted list; results to stdout, a file
 * (written atomically) and/or a blob.
 *
 * @module
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import {
  type Command,
  type CommandContext,
  intOption,
  numberOption,
  type OptionValues,
  UsageError,
} from "./command.ts";
import { loadSettings } from "../config.ts";
import { Progress } from "../progress.ts";
import { connectStorage, type StorageConnection } from "../storage/mod.ts";
import {
  type EngineName,
  ENGINES,
  MODEL_ONNX,
  openPredictor,
  type Predictor,
  selectBackend,
} from "../model/mod.ts";
import {
  type BatchLine,
  blobSources,
  fileSources,
  folderSources,
  type ImageSource,
  parseShard,
  readImageList,
  scoreBatch,
  selectShard,
  type Shard,
  sortSources,
} from "../serve/batch.ts";
import { scoreLocal, scoreRemote, scoreUrl } from "../serve/client.ts";
import type { ScoreResponseJson } from "../serve/score_format.ts";

const ENGINE_CHOICES = ["auto", ...ENGINES] as const;

function _strings(v: unknown): string[] {
  return v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String);
}

/**
 * `{i}` and `{n}` in a file or blob name become the shard's index and count; a name ending in `/` is a
 * folder and gets `shard-<i>-of-<n>.jsonl` (or `scores.jsonl` without a shard), so N pods can share one name.
 */
function _shardName(name: string, shard: Shard | undefined): string {
  const full = name.endsWith("/") ? name + (shard ? "shard-{i}-of-{n}.jsonl" : "scores.jsonl") : name;
  return full.replaceAll("{i}", String(shard?.index ?? 0)).replaceAll("{n}", String(shard?.count ?? 1));
}

/**
 * The inputs named no image at all (an empty folder, list or blob prefix).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(new NoImagesError("No images to score").name, "NoImagesError");
 * ```
 */
export class NoImagesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NoImagesError";
  }
}

/** Lines appended to `FILE.partial-PID`, renamed to `FILE` only when complete. */
class AtomicLines {
  #fd: number;
  #tmp: string;
  readonly path: string;
  constructor(path: string) {
    this.path = resolve(path);
    mkdirSync(dirname(this.path), { recursive: true });
    this.#tmp = `${this.path}.partial-${Deno.pid}`;
    this.#fd = openSync(this.#tmp, "w");
  }
  write(line: string): void {
    writeSync(this.#fd, line + "\n");
  }
  commit(): void {
    closeSync(this.#fd);
    renameSync(this.#tmp, this.path);
  }
  abort(): void {
    try {
      closeSync(this.#fd);
    } catch { /* already closed */ }
    rmSync(this.#tmp, { force: true });
  }
}

async function _sources(
  values: OptionValues,
  ctx: CommandContext,
  storage: () => Promise<StorageConnection>,
  tmp: string,
): Promise<ImageSource[]> {
  const images = values.images as string | undefined;
  const fromBlob = values["from-blob"] as string | undefined;
  const list = values.list as string | undefined;
  if (list && images && fromBlob !== undefined) {
    throw new UsageError("--list names images of --images DIR or of --from-blob PREFIX, not both");
  }
  const names = list ? readImageList(list) : undefined;
  const sources = fileSources(ctx.positionals);
  if (images !== undefined) sources.push(...folderSources(images, names));
  if (fromBlob !== undefined) {
    const conn = await storage();
    sources.push(
      ...await blobSources(conn.store, conn.containers.images, { prefix: fromBlob, names, tmpDir: tmp }),
    );
  }
  if (names && images === undefined && fromBlob === undefined) sources.push(...fileSources(names));
  return sortSources(sources);
}

async function _scorer(values: OptionValues, heatmap: boolean): Promise<{
  score: (bytes: Uint8Array) => Promise<ScoreResponseJson>;
  close(): Promise<void>;
  target: string;
}> {
  const settings = loadSettings();
  const className = values.class as string | undefined;
  const url = values.url as string | undefined;
  if (url !== undefined) {
    try {
      scoreUrl(url);
    } catch (e) {
      throw new UsageError(`--url: ${(e as Error).message.replace(/^scoreUrl: /, "")}`);
    }
    const timeoutMs = numberOption(values, "timeout", { min: 0.001, fallback: 120 }) * 1000;
    const key = settings.scoringKey ?? null;
    return {
      target: scoreUrl(url),
      score: (bytes) => scoreRemote(url, bytes, { key, heatmap, className, timeoutMs }),
      close: () => Promise.resolve(),
    };
  }
  const dir = values.model as string;
  const engine = (values.engine ?? "auto") as EngineName | "auto";
  if (!(ENGINE_CHOICES as readonly string[]).includes(engine)) {
    throw new UsageError(`--engine must be one of: ${ENGINE_CHOICES.join(", ")}; got "${engine}"`);
  }
  let predictor: Predictor;
  if (engine === "tfjs" || (engine === "auto" && !existsSync(join(dir, MODEL_ONNX)))) {
    await selectBackend(settings.backend);
  }
  try {
    predictor = await openPredictor(dir, { engine });
  } catch (e) {
    throw new Error(`Cannot open the model bundle "${dir}": ${(e as Error).message}`, { cause: e });
  }
  return {
    target: `${resolve(dir)} (${predictor.engine})`,
    score: (bytes) => scoreLocal(predictor, bytes, { heatmap, className }),
    close: () => predictor.dispose(),
  };
}

/**
 * The `score` command. Without `--json`: one JSON line per image on stdout (unless `--out`), a summary on
 * stderr. With `--json`: one document `{images, scored, failed, seconds, target, shard?, out?, blob?,
 * failures, results?}` (`results` holds the lines when there is no `--out`). Exit code 1 if any image failed.
 */
export const scoreCommand: Command = {
  name: "score",
  summary: "Score X-ray images with a scoring service or a local model bundle: one JSON line per image.",
  positionals: "[IMAGE...]",
  details: 'Each line is {"image", "model", "probabilities", "top"} (plus "heatmapClass" and ' +
    '"heatmapFile" with --heatmap-dir), or {"image", "error": {"code", "message"}} for an image that ' +
    "failed; the others are still scored, and the exit code is 1. Images are scored in name order; " +
    "--shard i/N (0-based; env/N takes i from $JOB_COMPLETION_INDEX, as in a Kubernetes Indexed Job) " +
    "scores the i-th contiguous slice of that order. With --url the key is the setting CXR_SCORING_KEY. " +
    "{i} and {n} in --out and --to-blob become the shard's index and count; a name ending in / gets " +
    "shard-<i>-of-<N>.jsonl (scores.jsonl without --shard) appended. Blob images are named relative to " +
    "the folder --from-blob PREFIX (images and images/ alike), as on disk.",
  options: {
    url: { type: "string", valueName: "URL", description: "Scoring service (http://host:port) to call." },
    model: { type: "string", valueName: "DIR", description: "Model bundle to score with in this process." },
    engine: {
      type: "string",
      valueName: "NAME",
      description: "Engine for --model: onnx, tfjs or auto (onnx when the bundle has model.onnx).",
      defaultText: "auto",
    },
    images: { type: "string", valueName: "DIR", description: "Score the images in this folder." },
    list: {
      type: "string",
      valueName: "FILE",
      description: "Only these names (one a line) of --images DIR or --from-blob PREFIX; else paths.",
    },
    "from-blob": {
      type: "string",
      valueName: "PREFIX",
      description: 'Score the image blobs in folder PREFIX of the images container ("" = all).',
    },
    shard: { type: "string", valueName: "i/N", description: "Score only shard i (0-based) of N, or env/N." },
    out: { type: "string", valueName: "FILE", description: "Write the JSON lines to FILE (atomically)." },
    "to-blob": { type: "string", valueName: "NAME", description: "Upload the JSON lines as this blob." },
    "to-container": {
      type: "string",
      valueName: "NAME",
      description: "Container for --to-blob.",
      defaultText: "the models container",
    },
    "heatmap-dir": {
      type: "string",
      valueName: "DIR",
      description: "Ask for heatmaps and write them here as <image>.heatmap.png.",
    },
    class: {
      type: "string",
      valueName: "NAME",
      description: "Finding the heatmaps show.",
      defaultText: "top",
    },
    concurrency: {
      type: "string",
      valueName: "N",
      description: "Images in flight at once.",
      defaultText: "4 with --url, 2 with --model",
    },
    timeout: {
      type: "string",
      valueName: "SECONDS",
      description: "Time limit per request (--url).",
      defaultText: "120",
    },
  },
  async run(values, ctx) {
    if ((values.url === undefined) === (values.model === undefined)) {
      throw new UsageError("give exactly one of --url URL or --model DIR");
    }
    if (values.url !== undefined && values.engine !== undefined) {
      throw new UsageError("--engine goes with --model");
    }
    let shard: Shard | undefined;
    if (values.shard !== undefined) {
      try {
        shard = parseShard(String(values.shard));
      } catch (e) {
        throw new UsageError(`--shard: ${(e as Error).message}`);
      }
    }
    const concurrency = intOption(values, "concurrency", { min: 1, max: 256, fallback: values.url ? 4 : 2 });
    const heatmapDir = values["heatmap-dir"] as string | undefined;
    const toBlob = values["to-blob"] === undefined ? undefined : _shardName(String(values["to-blob"]), shard);
    const outPath = values.out === undefined ? undefined : _shardName(String(values.out), shard);
    if (
      ctx.positionals.length === 0 && values.images === undefined && values.list === undefined &&
      values["from-blob"] === undefined
    ) {
      throw new UsageError("no images: give IMAGE files, --images DIR, --list FILE or --from-blob PREFIX");
    }
    let conn: StorageConnection | undefined;
    const storage = async () => conn ??= await connectStorage(loadSettings());
    const tmp = mkdtempSync(join(tmpdir(), "cxr-score-"));
    let scorer: Awaited<ReturnType<typeof _scorer>> | undefined;
    let file: AtomicLines | undefined;
    try {
      const all = await _sources(values, ctx, storage, tmp);
      if (all.length === 0) {
        // An empty shard is normal (more shards than images); an empty list before sharding is a mistake.
        const from = values["from-blob"] !== undefined
          ? `blobs under "${values["from-blob"]}" in the images container`
          : `files in "${values.images ?? values.list}"`;
        throw new NoImagesError(`No images to score: no .png, .jpg or .jpeg ${from}`);
      }
      const sources = selectShard(all, shard);
      scorer = await _scorer(values, heatmapDir !== undefined);
      const where = shard
        ? `shard ${shard.index}/${shard.count}: ${sources.length} of ${all.length}`
        : `${all.length}`;
      ctx.err(`Scoring ${where} images with ${scorer.target}`);
      const fileOut = outPath ?? (toBlob !== undefined ? join(tmp, "scores.jsonl") : undefined);
      file = fileOut ? new AtomicLines(fileOut) : undefined;
      const results: BatchLine[] = [];
      const progress = new Progress({ label: "score", total: sources.length, unit: "items" });
      const summary = await scoreBatch(sources, scorer.score, {
        concurrency,
        heatmapDir,
        onLine(line) {
          const text = JSON.stringify(line);
          if (file) file.write(text);
          if (outPath === undefined) ctx.json ? results.push(line) : ctx.out(text);
        },
        onProgress: (e) => progress.update(e.done),
      });
      progress.finish();
      file?.commit();
      let blob: { container: string; name: string } | undefined;
      if (toBlob !== undefined) {
        const c = await storage();
        blob = {
          container: (values["to-container"] as string | undefined) ?? c.containers.models,
          name: toBlob,
        };
        await c.store.ensureContainer(blob.container);
        await c.store.uploadFile(file!.path, blob, { contentType: "application/x-ndjson" });
      }
      for (const f of summary.failures) ctx.err(`failed: ${f.image}: ${f.message}`);
      ctx.err(
        `Scored ${summary.scored} of ${summary.images} images (${summary.failed} failed) in ${
          summary.seconds.toFixed(1)
        } s${outPath ? `; wrote ${resolve(outPath)}` : ""}${
          blob ? `; uploaded ${blob.container}/${blob.name}` : ""
        }`,
      );
      if (ctx.json) {
        ctx.out(JSON.stringify({
          images: summary.images,
          scored: summary.scored,
          failed: summary.failed,
          seconds: Number(summary.seconds.toFixed(3)),
          target: scorer.target,
          ...(shard ? { shard } : {}),
          ...(outPath ? { out: resolve(outPath) } : {}),
          ...(blob ? { blob } : {}),
          failures: summary.failures,
          ...(outPath === undefined ? { results } : {}),
        }));
      }
      return summary.failed > 0 ? 1 : 0;
    } catch (e) {
      file?.abort();
      throw e;
    } finally {
      await scorer?.close();
      await conn?.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  },
};
