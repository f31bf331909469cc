/**
 * Scores made elsewhere evaluated without a model or a cache: read and merged ({@linkcode readScores}),
 * matched by image name with the labels of `Data_Entry_2017*.csv` ({@linkcode labelScores}), and evaluated
 * exactly as a model bundle is ({@linkcode evaluateScores}), with what was incomplete or left out reported.
 *
 * @module
 */
import { basename } from "node:path";
import {
  type EntryTable,
  type EntryVariant,
  FINDINGS,
  readEntries,
  readSplitList,
  type SplitList,
} from "../nih/mod.ts";
import { EvaluationInputError } from "./errors.ts";
import { evaluateScores } from "./evaluate.ts";
import { type EvaluationJson, EvaluationReport } from "./evaluation_report.ts";
import { readScores, type ReadScoresOptions } from "./scores_file.ts";
import { labelScores } from "./scores_labels.ts";

/** How many names a report lists before "and N more". */
const FIRST = 10;

/** How many names there are, and the first 10 of them. */
export interface NameCount {
  count: number;
  first: string[];
}

/** What was read and matched: the `scores` field of the metrics document. */
export interface ScoresSummary {
  /** The `--scores` sources as given. */
  sources: string[];
  /** The files read. */
  files: string[];
  /** Score lines read, repeats included. */
  lines: number;
  /** Distinct images scored. */
  images: number;
  /** Error lines (failed images) read. */
  errorLines: number;
  /** Images that only have error lines. */
  failed: NameCount;
  /** Images scored twice with the same scores, counted once. */
  duplicates: { count: number; first: { image: string; sources: [string, string] }[] };
  /** Missing shard parts. */
  missingShards: string[];
  /** The model version the lines carry, `null` if none does. */
  modelVersion: string | null;
  /** Columns or probability names left out. */
  ignored: string[];
  /** The label file. */
  entries: { file: string; variant: EntryVariant; sha256: string };
  /** The image list, if one was given. */
  list: { file: string; images: number; sha256: string } | null;
  /** Images evaluated. */
  evaluated: number;
  /** Listed images without a score. */
  missing: NameCount;
  /** Scored images not in the label file. */
  unlabeled: NameCount;
  /** Scored images not in the list. */
  outsideList: NameCount;
}

/** The metrics document of an evaluation from scores: `model` says where they came from, `scores` how. */
export interface ScoresEvaluationJson extends EvaluationJson {
  /** `version` from the lines (`unknown` without), `engine` `"scores"`, `source` the sources given. */
  model: EvaluationJson["model"] & { source: string };
  /** What was read and matched. */
  scores: ScoresSummary;
}

/** What {@linkcode evaluateScoreFiles} found. */
export interface ScoresEvaluation {
  /** The report (`report.json` is a {@linkcode ScoresEvaluationJson}). */
  report: EvaluationReport;
  /** Same as `report.json.scores`. */
  summary: ScoresSummary;
  /** What makes the result incomplete: missing shards, failed, missing or unlabeled images. */
  warnings: string[];
  /** Worth knowing, harmless: repeats counted once, images outside the list, columns left out. */
  notes: string[];
}

/** Options of {@linkcode evaluateScoreFiles}. */
export interface EvaluateScoreFilesOptions extends ReadScoresOptions {
  /** Evaluate only these images (`test_list.txt`): a path or a parsed list. @default every scored image */
  list?: string | SplitList;
  /** Bootstrap resamples; 0 for none. @default 1000 */
  bootstrap?: number;
  /** Bootstrap seed. @default 0 */
  seed?: number;
}

function nameCount(names: readonly string[]): NameCount {
  return { count: names.length, first: names.slice(0, FIRST) };
}

/** `<count> <what>: a, b and 5 more`. */
function listSome(c: NameCount, what: string): string {
  const more = c.count - c.first.length;
  return `${c.count} ${what}: ${c.first.join(", ")}${
    more > 0 ? ` and ${more.toLocaleString("en-US")} more` : ""
  }`;
}

/**
 * Per-class AUROC with bootstrap intervals from scores made elsewhere ({@linkcode readScores}) and the
 * labels of a `Data_Entry_2017*.csv` file (either variant, plain or gzipped): the same metrics document and
 * renderings as a model bundle's evaluation, images in name order so a seed gives the same intervals
 * whatever order the files held them in.
 *
 * @param sources Score files, folders and `blob:CONTAINER/PREFIX` prefixes.
 * @param entries The label file's path, or a parsed table.
 * @throws {EvaluationInputError} If no scored image has labels (and is listed).
 * @throws {NihFormatError} For a bad label or list file; see {@linkcode readScores} for the scores.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FINDINGS, parseEntries } from "../nih/mod.ts";
 * const entries = parseEntries("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender," +
 *   "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n" +
 *   "00000001_000.png,Mass,0,1,58,M,PA,2682,2749,0.143,0.143\n00000002_000.png,No Finding,0,2,81,M,PA,2500,2048,0.171,0.171\n");
 * const file = Deno.makeTempFileSync({ suffix: ".csv" });
 * Deno.writeTextFileSync(file, `Image Index,${FINDINGS.join(",")}\n00000001_000.png${",0.9".repeat(14)}\n` +
 *   `00000002_000.png${",0.1".repeat(14)}\n`);
 * const { report, warnings } = await evaluateScoreFiles([file], entries, { bootstrap: 0 });
 * assert.equal(report.json.classes.Mass?.auroc, 1);
 * assert.equal(report.json.classes.Hernia?.auroc, null);
 * assert.equal(report.json.model.engine, "scores");
 * assert.deepEqual(warnings, []);
 * Deno.removeSync(file);
 * ```
 */
export async function evaluateScoreFiles(
  sources: readonly string[],
  entries: string | EntryTable,
  options: EvaluateScoreFilesOptions = {},
): Promise<ScoresEvaluation> {
  const table = typeof entries === "string" ? readEntries(entries) : entries;
  const list = typeof options.list === "string" ? readSplitList(options.list) : options.list;
  const set = await readScores(sources, options);
  const matched = labelScores(set, table, list);
  if (matched.images.length === 0) {
    throw new EvaluationInputError(
      `Nothing to evaluate: none of the ${set.rows.size} scored images ${
        list ? `in ${list.file} ` : ""
      }has labels in "${table.file}" (names must match its "Image Index", e.g. 00000001_000.png)`,
    );
  }
  const failed = [...new Set(set.errors.map((e) => basename(e.image)))].filter((k) => !set.rows.has(k))
    .sort();
  const summary: ScoresSummary = {
    sources: [...sources],
    files: set.files,
    lines: set.lines,
    images: set.rows.size,
    errorLines: set.errors.length,
    failed: nameCount(failed),
    duplicates: { count: set.duplicates.length, first: set.duplicates.slice(0, FIRST) },
    missingShards: set.missingShards,
    modelVersion: set.modelVersion,
    ignored: set.ignored,
    entries: { file: table.file, variant: table.variant, sha256: table.sha256 },
    list: list ? { file: list.file, images: list.images.length, sha256: list.sha256 } : null,
    evaluated: matched.images.length,
    missing: nameCount(matched.missing),
    unlabeled: nameCount(matched.unlabeled),
    outsideList: nameCount(matched.outsideList),
  };
  const model = { version: set.modelVersion ?? "unknown", engine: "scores", source: sources.join(", ") };
  const base = evaluateScores(matched.scores, matched.labels, FINDINGS, {
    bootstrap: options.bootstrap,
    seed: options.seed,
    partition: list ? list.file : "all scored",
    model,
  });
  const json: ScoresEvaluationJson = { ...base.json, model, scores: summary };
  const { missingShards, missing, unlabeled, duplicates, outsideList, ignored } = summary;
  const warnings: string[] = [];
  const notes: string[] = [];
  if (missingShards.length > 0) {
    warnings.push(`missing shard parts (their images are not evaluated): ${missingShards.join(", ")}`);
  }
  if (summary.failed.count > 0) {
    warnings.push(listSome(summary.failed, "images failed to score (error lines, no score)"));
  }
  if (missing.count > 0) {
    warnings.push(listSome(missing, `of the ${list!.images.length} images in ${list!.file} have no score`));
  }
  if (unlabeled.count > 0) {
    warnings.push(listSome(unlabeled, `scored images are not in ${table.file} and are left out`));
  }
  const failedSet = new Set(failed);
  const recovered = set.errors.filter((e) => !failedSet.has(basename(e.image))).length;
  if (recovered > 0) notes.push(`${recovered} error lines are for images scored in another line`);
  if (duplicates.count > 0) {
    const twice = {
      count: duplicates.count,
      first: duplicates.first.map((d) => `${d.image} (${d.sources.join(", ")})`),
    };
    notes.push(listSome(twice, "images are scored twice with the same scores and counted once"));
  }
  if (outsideList.count > 0) {
    notes.push(`${outsideList.count} scored images are not in ${list!.file} and are left out`);
  }
  if (ignored.length > 0) {
    notes.push(`not findings, left out: ${ignored.map((n) => JSON.stringify(n)).join(", ")}`);
  }
  return { report: new EvaluationReport(json, { ...base.curves }), summary, warnings, notes };
}
