/**
 * `deno task cxr evaluate`: per-class AUROC with bootstrap intervals, beside CheXNet's and the seed's
 * published numbers, either of a model bundle on a cache partition (`--model --cache`) or of scores made
 * elsewhere (`--scores --entries [--list]`: the JSON lines `cxr score` or an Indexed scoring Job wrote, or
 * another model's CSV) with the labels of `Data_Entry_2017*.csv`.
 *
 * @module
 */
import { writeFile } from "node:fs/promises";
import {
  choiceOption,
  type Command,
  type CommandContext,
  intOption,
  optionalString,
  type OptionValues,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import { join } from "node:path";
import {
  BACKENDS,
  checkBundleWritable,
  ENGINES,
  METADATA_JSON,
  MODEL_CARD_MD,
  openPredictor,
  predictorEngine,
  selectBackend,
} from "../model/mod.ts";
import { evaluate, evaluateScoreFiles, type EvaluationReport, recordEvaluation } from "../eval/mod.ts";
import { openCache } from "../images/mod.ts";
import { loadSettings } from "../config.ts";
import { connectStorage, type StorageConnection } from "../storage/mod.ts";

const MODEL_ONLY = ["partition", "engine", "backend", "batch", "record"] as const;
const USAGE = "evaluate a model bundle with --model DIR --cache DIR, or scores made elsewhere with " +
  "--scores FILE|DIR|blob:CONTAINER/PREFIX --entries Data_Entry_2017*.csv [--list FILE]";

async function modelReport(
  values: OptionValues,
  ctx: CommandContext,
  common: { bootstrap: number; seed: number },
) {
  if (values.list !== undefined) {
    throw new UsageError("--list goes with --scores; a cache partition is --partition");
  }
  const model = stringOption(values, "model");
  const cache = stringOption(values, "cache");
  const partition = stringOption(values, "partition", "test");
  const engine = choiceOption(values, "engine", ["auto", ...ENGINES] as const, "auto");
  const batchSize = intOption(values, "batch", { min: 1, max: 4096, fallback: 16 });
  // Checked before scoring (which can take an hour), not after.
  if (values.record === true) await checkBundleWritable(model);
  if (engine !== "onnx") {
    const backend = choiceOption(values, "backend", ["auto", ...BACKENDS] as const, "auto");
    if (predictorEngine(model, engine) === "tfjs") ctx.err(`backend: ${(await selectBackend(backend)).name}`);
  }
  const predictor = await openPredictor(model, { engine });
  ctx.err(`engine: ${predictor.engine}, model ${predictor.metadata.modelVersion}`);
  try {
    return await evaluate(predictor, cache, { partition, batchSize, progress: true, ...common });
  } finally {
    await predictor.dispose();
  }
}

async function scoresReport(
  values: OptionValues,
  ctx: CommandContext,
  common: { bootstrap: number; seed: number },
): Promise<{ report: EvaluationReport; warnings: string[] }> {
  for (const name of MODEL_ONLY) {
    if (values[name] !== undefined) throw new UsageError(`--${name} goes with --model/--cache, not --scores`);
  }
  const sources = (values.scores ?? []) as string[];
  if (sources.length === 0) throw new UsageError("--scores is required with --entries");
  const entries = stringOption(values, "entries");
  let conn: StorageConnection | undefined;
  try {
    const r = await evaluateScoreFiles(sources, entries, {
      ...withoutUndefined({ list: optionalString(values, "list") }),
      openStore: async () => (conn ??= await connectStorage(loadSettings())).store,
      ...common,
    });
    const s = r.summary;
    const errorLines = s.errorLines ? `, ${s.errorLines} error lines` : "";
    const model = `model ${s.modelVersion ?? "unknown"}`;
    const labels = `${s.entries.file} (${s.entries.variant})${s.list ? `; list: ${s.list.file}` : ""}`;
    ctx.err(
      `scores: ${s.files.length} files, ${s.images} images${errorLines} (${model}); labels: ${labels}; ` +
        `evaluated: ${s.evaluated} images`,
    );
    for (const w of r.warnings) ctx.err(`warning: ${w}`);
    for (const n of r.notes) ctx.err(`note: ${n}`);
    return r;
  } finally {
    await conn?.close();
  }
}

/**
 * The `evaluate` command. With `--json` it prints the metrics document (`cxr-eval/1`):
 * `{"format","model":{"version","engine"},"partition","images","classes":{"Atelectasis":{"auroc","ci":[lo,hi],
 * "positives","negatives"},...},"mean":{"auroc","ci","classes"},"bootstrap":{"resamples","confidence","seed"},
 * "references":[{"name","source","note","perClass"}]}`; `auroc`/`ci` are `null` for a class without positives
 * or negatives. From `--scores`, `model` is `{"version" (from the lines, else "unknown"), "engine": "scores",
 * "source"}`, `partition` the list's file name (or `"all scored"`), and `scores` says what was read and
 * matched (files, error lines, duplicates, missing shards, missing and unlabeled images).
 */
export const evaluateCommand: Command = {
  name: "evaluate",
  summary:
    "Per-class AUROC (with bootstrap CIs) of a model bundle on a cache partition, or of scores from a file.",
  details: "Two modes. --model DIR --cache DIR scores every image of <cache>/<partition>.bin with the " +
    "bundle (ONNX Runtime when it has model.onnx, else tfjs). --scores SRC --entries FILE [--list FILE] " +
    "takes scores made elsewhere, with the labels of Data_Entry_2017.csv or Data_Entry_2017_v2020.csv " +
    "(plain or .gz): SRC is the JSON lines `cxr score` writes, a CSV with `Image Index` and one column per " +
    "finding (Atelectasis or prob_Atelectasis), a folder (its *.jsonl files), or blob:CONTAINER/PREFIX (one " +
    "blob, or the *.jsonl blobs in that folder, e.g. blob:models/scores/ where an Indexed scoring Job " +
    "uploads shard-<i>-of-<N>.jsonl); --scores repeats. Parts are merged by image name; a missing shard " +
    "part, error lines (failed images), listed images without a score and scored images without labels " +
    "are reported (--strict: exit 1 then); an image twice with equal scores counts once, with different " +
    "scores, or lines of two model versions, is an error. --list restricts to its images (test_list.txt). " +
    "Both modes compute the exact AUROC per finding (undefined, not 1.0, for a finding without positives " +
    "or negatives), percentile bootstrap intervals over images, and the mean over the defined findings, " +
    "and print a table beside CheXNet's and the seed's published numbers. --charts writes roc.svg, " +
    "auroc.svg and metrics.json. --record (with --model) writes the evaluation into the bundle: its " +
    "metadata gains `evaluation` (partition, images, per-class AUROC with intervals, mean; an earlier one " +
    "is replaced) and MODEL_CARD.md shows it beside CheXNet; the weights are untouched. Without --record " +
    "the bundle is only read.",
  options: {
    model: { valueName: "DIR", description: "The model bundle (with --cache)." },
    cache: { valueName: "DIR", description: "The preprocessed cache (with --model)." },
    partition: { valueName: "NAME", description: "Cache partition (--model).", defaultText: "test" },
    scores: {
      valueName: "SRC",
      multiple: true,
      description: "Scores: a .jsonl or .csv file, a folder of .jsonl, or blob:CONTAINER/PREFIX.",
    },
    entries: {
      valueName: "FILE",
      description: "Labels for --scores: Data_Entry_2017*.csv (2017 or v2020, plain or .gz).",
    },
    list: {
      valueName: "FILE",
      description: "With --scores, evaluate only the images of this list (test_list.txt).",
    },
    strict: {
      description: "With --scores, exit 1 after the report if anything was missing, failed or unlabeled.",
    },
    out: { valueName: "FILE", description: "Write the metrics JSON here too." },
    record: {
      description: "With --model, record this evaluation in the bundle (metadata.json and MODEL_CARD.md); " +
        "refused before scoring when the bundle folder is read-only.",
    },
    engine: { valueName: "NAME", description: `auto, ${ENGINES.join(", ")} (--model).`, defaultText: "auto" },
    bootstrap: { valueName: "N", description: "Bootstrap resamples (0: no intervals).", defaultText: "1000" },
    seed: { valueName: "S", description: "Bootstrap seed.", defaultText: "0" },
    backend: {
      valueName: "NAME",
      description: `tfjs backend (tfjs engine only): auto, ${BACKENDS.join(", ")}.`,
      defaultText: "auto",
    },
    batch: { valueName: "N", description: "Images per predict call (--model).", defaultText: "16" },
    charts: { valueName: "DIR", description: "Write roc.svg, auroc.svg, metrics.json here." },
  },
  async run(values, ctx) {
    const modelMode = values.model !== undefined || values.cache !== undefined;
    const scoresMode = values.scores !== undefined || values.entries !== undefined;
    if (modelMode === scoresMode) {
      throw new UsageError(
        modelMode ? `--model/--cache and --scores/--entries are two modes, give one: ${USAGE}` : USAGE,
      );
    }
    if (modelMode && values.strict !== undefined) throw new UsageError("--strict goes with --scores");
    const common = {
      bootstrap: intOption(values, "bootstrap", { min: 0, max: 1_000_000, fallback: 1000 }),
      seed: intOption(values, "seed", { min: 0, max: 2 ** 32 - 1, fallback: 0 }),
    };
    let report: EvaluationReport, warnings: string[] = [];
    if (modelMode) report = await modelReport(values, ctx, common);
    else ({ report, warnings } = await scoresReport(values, ctx, common));
    const text = JSON.stringify(report.json, null, 2) + "\n";
    if (typeof values.out === "string") await writeFile(values.out, text);
    if (typeof values.charts === "string") {
      for (const file of await report.writeCharts(values.charts)) ctx.err(`wrote ${file}`);
    }
    if (ctx.json) ctx.out(JSON.stringify(report.json));
    else ctx.out(report.formatTable());
    // After the report is out: a failure to record loses no result.
    if (values.record === true) {
      const model = values.model as string;
      const partition = report.json.partition;
      let splitDigest: string | undefined;
      try {
        using cache = openCache(values.cache as string, partition);
        splitDigest = cache.splitDigest;
      } catch { /* evaluated a moment ago: the digest is only a bonus */ }
      await recordEvaluation(model, report.json, withoutUndefined({ splitDigest }));
      ctx.err(`recorded in ${join(model, METADATA_JSON)} and ${join(model, MODEL_CARD_MD)}`);
    } else if (modelMode) ctx.err("not recorded in the bundle (--record writes it into its model card)");
    if (values.strict === true && warnings.length > 0) {
      ctx.err(`--strict: ${warnings.length} warnings, exit 1`);
      return 1;
    }
  },
};
