/**
 * `deno task cxr evaluate`: per-class AUROC of a model bundle on a cache partition, with bootstrap intervals,
 * beside CheXNet's and the seed's published numbers.
 *
 * @module
 */
import { writeFile } from "node:fs/promises";
import { choiceOption, type Command, intOption, stringOption } from "./command.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BACKENDS, ENGINES, MODEL_ONNX, openPredictor, selectBackend } from "../model/mod.ts";
import { evaluate } from "../eval/mod.ts";

/**
 * The `evaluate` command. With `--json` it prints the metrics document (`cxr-eval/1`):
 * `{"format","model":{"version","engine"},"partition","images","classes":{"Atelectasis":{"auroc","ci":[lo,hi],
 * "positives","negatives"},...},"mean":{"auroc","ci","classes"},"bootstrap":{"resamples","confidence","seed"},
 * "references":[{"name","source","note","perClass"}]}`; `auroc`/`ci` are `null` for a class without positives
 * or negatives.
 */
export const evaluateCommand: Command = {
  name: "evaluate",
  summary: "Per-class AUROC (with bootstrap CIs) of a model bundle on a preprocessed cache partition.",
  details: "Scores every image of <cache>/<partition>.bin with the bundle (ONNX Runtime when it has " +
    "model.onnx, else tfjs), computes the exact AUROC per finding (undefined, not 1.0, for a finding " +
    "without positives or negatives), percentile bootstrap intervals over images, and the mean over the " +
    "defined findings; prints a table beside CheXNet's and the seed's published numbers. --charts writes " +
    "roc.svg, auroc.svg and metrics.json.",
  options: {
    model: { type: "string", valueName: "DIR", description: "The model bundle.", required: true },
    cache: { type: "string", valueName: "DIR", description: "The preprocessed cache.", required: true },
    partition: { type: "string", valueName: "NAME", description: "Cache partition.", defaultText: "test" },
    out: { type: "string", valueName: "FILE", description: "Write the metrics JSON here too." },
    engine: {
      type: "string",
      valueName: "NAME",
      description: `auto, ${ENGINES.join(", ")}.`,
      defaultText: "auto",
    },
    bootstrap: {
      type: "string",
      valueName: "N",
      description: "Bootstrap resamples (0: no intervals).",
      defaultText: "1000",
    },
    seed: { type: "string", valueName: "S", description: "Bootstrap seed.", defaultText: "0" },
    backend: {
      type: "string",
      valueName: "NAME",
      description: `tfjs backend (tfjs engine only): auto, ${BACKENDS.join(", ")}.`,
      defaultText: "auto",
    },
    batch: { type: "string", valueName: "N", description: "Images per predict call.", defaultText: "16" },
    charts: { type: "string", valueName: "DIR", description: "Write roc.svg, auroc.svg, metrics.json here." },
  },
  async run(values, ctx) {
    const model = stringOption(values, "model");
    const cache = stringOption(values, "cache");
    const partition = stringOption(values, "partition", "test");
    const engine = choiceOption(values, "engine", ["auto", ...ENGINES] as const, "auto");
    const bootstrap = intOption(values, "bootstrap", { min: 0, max: 1_000_000, fallback: 1000 });
    const seed = intOption(values, "seed", { min: 0, max: 2 ** 32 - 1, fallback: 0 });
    const batchSize = intOption(values, "batch", { min: 1, max: 4096, fallback: 16 });
    if (engine !== "onnx") {
      const backend = choiceOption(values, "backend", ["auto", ...BACKENDS] as const, "auto");
      const needsTfjs = engine === "tfjs" || !existsSync(join(model, MODEL_ONNX));
      if (needsTfjs) ctx.err(`backend: ${(await selectBackend(backend)).name}`);
    }
    const predictor = await openPredictor(model, { engine });
    ctx.err(`engine: ${predictor.engine}, model ${predictor.metadata.modelVersion}`);
    let report;
    try {
      report = await evaluate(predictor, cache, { partition, batchSize, bootstrap, seed, progress: true });
    } finally {
      await predictor.dispose();
    }
    const text = JSON.stringify(report.json, null, 2) + "\n";
    if (typeof values.out === "string") await writeFile(values.out, text);
    if (typeof values.charts === "string") {
      for (const file of await report.writeCharts(values.charts)) ctx.err(`wrote ${file}`);
    }
    if (ctx.json) ctx.out(JSON.stringify(report.json));
    else ctx.out(report.formatTable());
  },
};
