/**
 * `deno task cxr score`: score images with a scoring service (`--url`) or a local model bundle (`--model`),
 * one JSON line per image; images from files, a folder, a list, or the images blob container; `--shard i/N`
 * (or `env/N` in a Kubernetes Indexed Job) scores one slice of the sorted list; results to stdout, a file
 * (written atomically) and/or a blob. The work is {@linkcode scoreImages}.
 *
 * @module
 */
import {
  asUsageError,
  choiceOption,
  type Command,
  intOption,
  numberOption,
  optionalString,
  type OptionValues,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import { Progress } from "../progress.ts";
import { parseShard } from "../shard.ts";
import { ENGINES } from "../model/mod.ts";
import { type BatchLine, scoreImages, type ScorerSpec, scoreUrl } from "../serve/mod.ts";

const ENGINE_CHOICES = ["auto", ...ENGINES] as const;

function scorer(values: OptionValues): ScorerSpec {
  const url = optionalString(values, "url");
  if (url === undefined) {
    return { model: String(values.model), engine: choiceOption(values, "engine", ENGINE_CHOICES, "auto") };
  }
  asUsageError(() => scoreUrl(url), (m) => `--url: ${m.replace(/^scoreUrl: /, "")}`);
  return { url, timeoutMs: numberOption(values, "timeout", { min: 0.001, fallback: 120 }) * 1000 };
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
    url: { valueName: "URL", description: "Scoring service (http://host:port) to call." },
    model: { valueName: "DIR", description: "Model bundle to score with in this process." },
    engine: {
      valueName: "NAME",
      description: "Engine for --model: onnx, tfjs or auto (onnx when the bundle has model.onnx).",
      defaultText: "auto",
    },
    images: { valueName: "DIR", description: "Score the images in this folder." },
    list: {
      valueName: "FILE",
      description: "Only these names (one a line) of --images DIR or --from-blob PREFIX; else paths.",
    },
    "from-blob": {
      valueName: "PREFIX",
      description: 'Score the image blobs in folder PREFIX of the images container ("" = all).',
    },
    shard: { valueName: "i/N", description: "Score only shard i (0-based) of N, or env/N." },
    out: { valueName: "FILE", description: "Write the JSON lines to FILE (atomically)." },
    "to-blob": { valueName: "NAME", description: "Upload the JSON lines as this blob." },
    "to-container": {
      valueName: "NAME",
      description: "Container for --to-blob.",
      defaultText: "the models container",
    },
    "heatmap-dir": {
      valueName: "DIR",
      description: "Ask for heatmaps and write them here as <image>.heatmap.png.",
    },
    class: { valueName: "NAME", description: "Finding the heatmaps show.", defaultText: "top" },
    concurrency: {
      valueName: "N",
      description: "Images in flight at once.",
      defaultText: "4 with --url, 2 with --model",
    },
    timeout: { valueName: "SECONDS", description: "Time limit per request (--url).", defaultText: "120" },
  },
  async run(values, ctx) {
    if ((values.url === undefined) === (values.model === undefined)) {
      throw new UsageError("give exactly one of --url URL or --model DIR");
    }
    if (values.url !== undefined && values.engine !== undefined) {
      throw new UsageError("--engine goes with --model");
    }
    const shardSpec = optionalString(values, "shard");
    const shard = shardSpec === undefined
      ? undefined
      : asUsageError(() => parseShard(shardSpec), (m) => `--shard: ${m}`);
    const concurrency = intOption(values, "concurrency", { min: 1, max: 256, fallback: values.url ? 4 : 2 });
    const inputs = {
      files: ctx.positionals,
      ...withoutUndefined({
        folder: optionalString(values, "images"),
        list: optionalString(values, "list"),
        fromBlob: optionalString(values, "from-blob"),
      }),
    };
    if (
      inputs.files.length === 0 && inputs.folder === undefined && inputs.list === undefined &&
      inputs.fromBlob === undefined
    ) {
      throw new UsageError("no images: give IMAGE files, --images DIR, --list FILE or --from-blob PREFIX");
    }
    if (inputs.list && inputs.folder && inputs.fromBlob !== undefined) {
      throw new UsageError("--list names images of --images DIR or of --from-blob PREFIX, not both");
    }
    const out = optionalString(values, "out");
    const results: BatchLine[] = [];
    let progress: Progress | undefined;
    const summary = await scoreImages(inputs, scorer(values), {
      concurrency,
      ...withoutUndefined({
        shard,
        out,
        toBlob: optionalString(values, "to-blob"),
        toContainer: optionalString(values, "to-container"),
        heatmapDir: optionalString(values, "heatmap-dir"),
        className: optionalString(values, "class"),
      }),
      onStart(e) {
        const slice = shard ? `shard ${shard.index}/${shard.count}: ${e.images} of ` : "";
        ctx.err(`Scoring ${slice}${e.total} images with ${e.target}`);
        progress = new Progress({ label: "score", total: e.images, unit: "items" });
      },
      onLine(line) {
        if (out === undefined) ctx.json ? results.push(line) : ctx.out(JSON.stringify(line));
      },
      onProgress: (e) => progress?.update(e.done),
    });
    progress?.finish();
    for (const f of summary.failures) ctx.err(`failed: ${f.image}: ${f.message}`);
    const { blob } = summary;
    const wrote = (summary.out ? `; wrote ${summary.out}` : "") +
      (blob ? `; uploaded ${blob.container}/${blob.name}` : "");
    const took = `in ${summary.seconds.toFixed(1)} s${wrote}`;
    ctx.err(`Scored ${summary.scored} of ${summary.images} images (${summary.failed} failed) ${took}`);
    if (ctx.json) {
      ctx.out(JSON.stringify({
        images: summary.images,
        scored: summary.scored,
        failed: summary.failed,
        seconds: Number(summary.seconds.toFixed(3)),
        target: summary.target,
        ...withoutUndefined({ shard, out: summary.out, blob }),
        failures: summary.failures,
        ...(out === undefined ? { results } : {}),
      }));
    }
    return summary.failed > 0 ? 1 : 0;
  },
};
