/**
 * Scores made elsewhere, read back for evaluation without a model or a cache: the JSON lines `cxr score`
 * writes (one file, or the `shard-<i>-of-<N>.jsonl` parts a Kubernetes Indexed scoring Job uploads to blob),
 * or a CSV with `Image Index` and one column per finding (`Atelectasis` or `prob_Atelectasis`). The parts
 * are merged (a shard set checked for gaps, an image scored twice compared, error lines counted, model
 * versions checked), matched by image name with the labels of `Data_Entry_2017*.csv` (both variants,
 * optionally restricted to a list such as `test_list.txt`), and evaluated exactly as a model bundle is
 * ({@linkcode evaluateScores}).
 *
 * @module
 */
import { readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  type EntryTable,
  type EntryVariant,
  findingIndex,
  FINDINGS,
  NihFormatError,
  readEntries,
  readSplitList,
  type SplitList,
} from "../nih/mod.ts";
import type { BlobStore } from "../storage/mod.ts";
import { jsonErrorOffset } from "../json_position.ts";
import { evaluateScores, EvaluationInputError, type EvaluationJson } from "./evaluate.ts";
import { EvaluationReport } from "./evaluation_report.ts";

const C = FINDINGS.length;
/** How many names a report lists before "and N more". */
const FIRST = 10;
/** Shard parts as `cxr score --shard i/N --to-blob PREFIX/` names them (0-based i). */
const SHARD = /^shard-(\d+)-of-(\d+)\.jsonl(?:\.gz)?$/;
/** Files taken from a folder or blob prefix. */
const SCORE_FILE = /\.jsonl(?:\.gz)?$/i;
const BLOB = "blob:";

/**
 * A scores file that does not parse: names the file, the 1-based line and column, and what was wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new ScoresFileError("expected 15 fields, found 14", { file: "scores.csv", line: 3, column: 40 });
 * assert.ok(e instanceof SyntaxError);
 * assert.equal(e.message, 'Cannot read "scores.csv" at line 3, column 40: expected 15 fields, found 14');
 * ```
 */
export class ScoresFileError extends NihFormatError {
  constructor(reason: string, where: { file: string; line: number; column: number }, options?: ErrorOptions) {
    super(reason, where, options);
    this.name = "ScoresFileError";
  }
}

/**
 * Parts that do not fit together: one image with different scores in two places, several model versions,
 * shards of runs with different shard counts, or a shard index out of range. `sources` names the places.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new ScoresConflictError("two versions", ["a.jsonl:1", "b.jsonl:1"]);
 * assert.equal(e.name, "ScoresConflictError");
 * assert.deepEqual(e.sources, ["a.jsonl:1", "b.jsonl:1"]);
 * ```
 */
export class ScoresConflictError extends Error {
  /** The places involved (`file:line`, file or blob names). */
  sources: string[];
  constructor(message: string, sources: string[], options?: ErrorOptions) {
    super(message, options);
    this.name = "ScoresConflictError";
    this.sources = sources;
  }
}

/** One scored image as read. */
export interface ScoreRow {
  /** The name as written (`images/00000001_000.png` for a run over a blob container). */
  image: string;
  /** The 14 scores in `FINDINGS` order. */
  scores: Float64Array;
  /** Where it was read: `file:line`. */
  source: string;
  /** The line's `model.version` (or `model_version`), if it has one. */
  modelVersion?: string;
}

/** A JSON line `{"image", "error": {"code", "message"}}`: an image the scorer could not score. */
export interface ScoreErrorLine {
  /** The image name as written. */
  image: string;
  /** `file:line`. */
  source: string;
  /** The error's code (`bad_image`, `not_found`, ...; `error` when it has none). */
  code: string;
  /** The error's message. */
  message: string;
}

/** One parsed scores file. */
export interface ParsedScores {
  /** The file (or `blob:container/name`) as named in messages. */
  file: string;
  /** Which format it was read as. */
  format: "jsonl" | "csv";
  /** The scored images, in file order. */
  rows: ScoreRow[];
  /** The error lines, in file order. */
  errors: ScoreErrorLine[];
  /** Columns or probability names that are none of the 14 findings (e.g. `No Finding`), left out. */
  ignored: string[];
}

/**
 * Parses the JSON lines `cxr score` writes: `{"image", "model": {"name", "version"}, "probabilities":
 * {finding: p}, "top"}` per scored image, `{"image", "error": {...}}` per failed one. Blank lines are
 * skipped; probability names go through `findingIndex` (so `Pleural Thickening` works), other names are
 * left out and listed in `ignored`; a top-level `model_version` is read too.
 *
 * @param text The file's text.
 * @param file Its name, for messages and `source`.
 * @throws {ScoresFileError} On a line that is not a JSON object, has no `image`, lacks a finding, or has a
 *   score that is not a finite number (line and column of the problem).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FINDINGS } from "../nih/mod.ts";
 * const probabilities = Object.fromEntries(FINDINGS.map((f) => [f, 0.25]));
 * const text = JSON.stringify({ image: "images/00000001_000.png", model: { name: "densenet", version: "v1" }, probabilities }) +
 *   '\n{"image": "00000002_000.png", "error": {"code": "bad_image", "message": "not a PNG"}}\n';
 * const p = parseScoresJsonl(text, "shard-0-of-1.jsonl");
 * assert.equal(p.rows[0].modelVersion, "v1");
 * assert.equal(p.rows[0].source, "shard-0-of-1.jsonl:1");
 * assert.deepEqual(p.errors.map((e) => [e.image, e.code]), [["00000002_000.png", "bad_image"]]);
 * assert.throws(() => parseScoresJsonl('{"image": "x.png", "probabilities": {"Mass": 0.5}}', "s.jsonl"),
 *   /"s.jsonl" at line 1, column 20: "probabilities" has no Atelectasis, Cardiomegaly/);
 * assert.throws(() => parseScoresJsonl('{"image": "x.png",}', "s.jsonl"), /line 1, column 19: invalid JSON/);
 * ```
 */
export function parseScoresJsonl(text: string, file = "scores.jsonl"): ParsedScores {
  const rows: ScoreRow[] = [];
  const errors: ScoreErrorLine[] = [];
  const ignored = new Set<string>();
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n].endsWith("\r") ? lines[n].slice(0, -1) : lines[n];
    if (n === 0 && line.startsWith("\uFEFF")) line = " " + line.slice(1);
    if (line.trim() === "") continue;
    const where = { file, line: n + 1 };
    const fail = (column: number, reason: string, cause?: unknown): never => {
      throw new ScoresFileError(reason, { ...where, column }, { cause });
    };
    const at = (key: string, from = 0) => Math.max(0, line.indexOf(JSON.stringify(key), from)) + 1;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      fail(
        jsonErrorOffset(line) + 1,
        `invalid JSON (${(e as Error).message.split("\n")[0].slice(0, 80)})`,
        e,
      );
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      fail(
        1,
        'expected an object {"image": name, "probabilities": {...}} or {"image": name, "error": {...}}',
      );
    }
    const obj = raw as Record<string, unknown>;
    if (typeof obj.image !== "string" || obj.image === "") {
      fail(at("image"), '"image" must be a non-empty string');
    }
    const image = obj.image as string;
    const source = `${file}:${n + 1}`;
    if (obj.error !== undefined && obj.error !== null) {
      const e = obj.error as Record<string, unknown>;
      errors.push({
        image,
        source,
        code: typeof e.code === "string" ? e.code : "error",
        message: typeof e.message === "string" ? e.message : JSON.stringify(e),
      });
      continue;
    }
    const probs = obj.probabilities;
    const from = at("probabilities") - 1;
    if (typeof probs !== "object" || probs === null || Array.isArray(probs)) {
      fail(from + 1, '"probabilities" must be an object of numbers by finding');
    }
    const scores = new Float64Array(C).fill(NaN);
    for (const [name, p] of Object.entries(probs as Record<string, unknown>)) {
      const k = findingIndex(name);
      if (k < 0) {
        ignored.add(name);
        continue;
      }
      if (typeof p !== "number" || !Number.isFinite(p)) {
        fail(at(name, from), `the score of "${name}" must be a number, found ${JSON.stringify(p)}`);
      }
      if (!Number.isNaN(scores[k])) fail(at(name, from), `"${name}" repeats ${FINDINGS[k]}`);
      scores[k] = p as number;
    }
    const missing = FINDINGS.filter((_, k) => Number.isNaN(scores[k]));
    if (missing.length > 0) fail(from + 1, `"probabilities" has no ${missing.join(", ")}`);
    const model = obj.model as Record<string, unknown> | undefined;
    const version = typeof model?.version === "string"
      ? model.version
      : typeof obj.model_version === "string"
      ? obj.model_version
      : undefined;
    rows.push(
      version === undefined ? { image, scores, source } : { image, scores, source, modelVersion: version },
    );
  }
  return { file, format: "jsonl", rows, errors, ignored: [...ignored] };
}

/** Splits one CSV line into fields (RFC 4180 quotes, `""` inside them) with each field's 1-based column. */
function _csvFields(
  line: string,
  where: { file: string; line: number },
): { values: string[]; columns: number[] } {
  const values: string[] = [], columns: number[] = [];
  for (let i = 0;;) {
    columns.push(i + 1);
    if (line[i] === '"') {
      let v = "";
      for (i++;;) {
        const q = line.indexOf('"', i);
        if (q < 0) {
          throw new ScoresFileError("unterminated quoted field", { ...where, column: columns.at(-1)! });
        }
        v += line.slice(i, q);
        i = q + 1;
        if (line[i] !== '"') break;
        v += '"';
        i++;
      }
      if (i < line.length && line[i] !== ",") {
        throw new ScoresFileError('expected "," after a quoted field', { ...where, column: i + 1 });
      }
      values.push(v);
    } else {
      const c = line.indexOf(",", i);
      const end = c < 0 ? line.length : c;
      values.push(line.slice(i, end));
      i = end;
    }
    if (i >= line.length) return { values, columns };
    i++;
  }
}

/**
 * Parses a CSV of scores: a header with `Image Index` (or `image`) and one column per finding, named as the
 * finding (`Atelectasis`, `Pleural_Thickening` or `Pleural Thickening`) or with a `prob_` prefix; other
 * columns (an unnamed index, `No Finding`) are left out and listed in `ignored`. Fields may be quoted; blank
 * lines are skipped; scores need only be finite numbers (AUROC uses their order, so logits do too).
 *
 * @param text The file's text.
 * @param file Its name, for messages and `source`.
 * @throws {ScoresFileError} When no column holds the image name, a finding has no column (listing which),
 *   two columns name the same finding, a row's field count differs from the header's, or a score is not a
 *   number (line and column of the field).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FINDINGS } from "../nih/mod.ts";
 * const header = ["Image Index", ...FINDINGS.map((f) => `prob_${f.replace("_", " ")}`), "No Finding"].join(",");
 * const row = ["00000001_000.png", ...FINDINGS.map((_, k) => k / 20), 0.5].join(",");
 * const p = parseScoresCsv(`${header}\r\n${row}\r\n`, "other_model.csv");
 * assert.equal(p.rows[0].scores[12], 0.6); // "prob_Pleural Thickening"
 * assert.deepEqual(p.ignored, ["No Finding"]);
 * assert.throws(() => parseScoresCsv("Image Index,Atelectasis\n", "o.csv"), /line 1, column 1: no column for Cardiomegaly, Effusion/);
 * assert.throws(() => parseScoresCsv(`${header}\n${row.replace(",0.05,", ",high,")}`, "o.csv"),
 *   /"o.csv" at line 2, column 20: "prob_Cardiomegaly" must be a number, found "high"/);
 * ```
 */
export function parseScoresCsv(text: string, file = "scores.csv"): ParsedScores {
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  if (lines[0]?.startsWith("\uFEFF")) lines[0] = lines[0].slice(1);
  if ((lines[0] ?? "").trim() === "") {
    throw new ScoresFileError(
      'expected a header with "Image Index" and the 14 findings, found an empty line',
      {
        file,
        line: 1,
        column: 1,
      },
    );
  }
  const header = _csvFields(lines[0], { file, line: 1 });
  const names = header.values.map((h) => h.trim());
  let imageColumn = -1;
  const columnOf = new Int32Array(C).fill(-1);
  const ignored: string[] = [];
  names.forEach((name, i) => {
    if (name === "Image Index" || name === "image") {
      if (imageColumn >= 0) {
        throw new ScoresFileError(`two image columns, "${names[imageColumn]}" and "${name}"`, {
          file,
          line: 1,
          column: header.columns[i],
        });
      }
      imageColumn = i;
      return;
    }
    const k = findingIndex(name.startsWith("prob_") ? name.slice(5) : name);
    if (k < 0) return void ignored.push(name);
    if (columnOf[k] >= 0) {
      throw new ScoresFileError(`columns "${names[columnOf[k]]}" and "${name}" both name ${FINDINGS[k]}`, {
        file,
        line: 1,
        column: header.columns[i],
      });
    }
    columnOf[k] = i;
  });
  if (imageColumn < 0) {
    throw new ScoresFileError('no "Image Index" column', { file, line: 1, column: 1 });
  }
  const missing = FINDINGS.filter((_, k) => columnOf[k] < 0);
  if (missing.length > 0) {
    throw new ScoresFileError(
      `no column for ${missing.join(", ")}; name each finding as "Atelectasis" or "prob_Atelectasis"`,
      { file, line: 1, column: 1 },
    );
  }
  const rows: ScoreRow[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n];
    if (line.trim() === "") continue;
    const where = { file, line: n + 1 };
    const f = _csvFields(line, where);
    if (f.values.length !== names.length) {
      const column = f.values.length > names.length ? f.columns[names.length] : line.length + 1;
      throw new ScoresFileError(
        `expected ${names.length} fields as in the header, found ${f.values.length}`,
        {
          ...where,
          column,
        },
      );
    }
    const image = f.values[imageColumn].trim();
    if (image === "") {
      throw new ScoresFileError(`"${names[imageColumn]}" is empty`, {
        ...where,
        column: f.columns[imageColumn],
      });
    }
    const scores = new Float64Array(C);
    for (let k = 0; k < C; k++) {
      const i = columnOf[k];
      const v = f.values[i].trim();
      const x = v === "" ? NaN : Number(v);
      if (!Number.isFinite(x)) {
        throw new ScoresFileError(`"${names[i]}" must be a number, found "${v}"`, {
          ...where,
          column: f.columns[i],
        });
      }
      scores[k] = x;
    }
    rows.push({ image, scores, source: `${file}:${n + 1}` });
  }
  return { file, format: "csv", rows, errors: [], ignored };
}

/**
 * Parses a scores file as CSV when its name ends in `.csv` (or `.csv.gz`), as JSON lines when it ends in
 * `.jsonl`, `.ndjson` or `.json`, else by its first character (`{`: JSON lines).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(parseScoresText("", "shard-3-of-4.jsonl").format, "jsonl"); // an empty shard
 * assert.throws(() => parseScoresText("", "scores.csv"), /expected a header/);
 * ```
 */
export function parseScoresText(text: string, file: string): ParsedScores {
  const name = file.toLowerCase().replace(/\.gz$/, "");
  const csv = name.endsWith(".csv") ||
    (!/\.(jsonl|ndjson|json)$/.test(name) && !text.replace(/^\uFEFF/, "").trimStart().startsWith("{"));
  return csv ? parseScoresCsv(text, file) : parseScoresJsonl(text, file);
}

/**
 * Checks the shard parts among `files` (base names `shard-<i>-of-<N>.jsonl`, 0-based `i` as
 * `cxr score --shard i/N` and Indexed Jobs number them), grouped by folder, and returns the names of the
 * missing parts.
 *
 * @throws {ScoresConflictError} If a part's index is not below its count, or one folder holds parts of
 *   runs with different counts.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(checkShards(["blob:models/scores/shard-0-of-3.jsonl", "blob:models/scores/shard-2-of-3.jsonl", "extra.csv"]),
 *   ["blob:models/scores/shard-1-of-3.jsonl"]);
 * assert.throws(() => checkShards(["s/shard-3-of-3.jsonl"]), /numbered 0 to 2/);
 * assert.throws(() => checkShards(["s/shard-0-of-2.jsonl", "s/shard-0-of-3.jsonl"]), /different shard counts/);
 * ```
 */
export function checkShards(files: readonly string[]): string[] {
  const groups = new Map<string, { file: string; index: number; count: number }[]>();
  for (const file of files) {
    const m = SHARD.exec(basename(file));
    if (!m) continue;
    const index = Number(m[1]), count = Number(m[2]);
    if (count < 1 || index >= count) {
      throw new ScoresConflictError(
        `"${file}" is shard ${index} of ${count}, but the shards of ${count} are numbered 0 to ${
          count - 1
        } ` +
          "(cxr score --shard i/N, $JOB_COMPLETION_INDEX)",
        [file],
      );
    }
    const dir = dirname(file);
    groups.set(dir, [...groups.get(dir) ?? [], { file, index, count }]);
  }
  const missing: string[] = [];
  for (const [dir, parts] of groups) {
    const counts = [...new Set(parts.map((p) => p.count))];
    if (counts.length > 1) {
      throw new ScoresConflictError(
        `"${dir}" holds the shards of runs with different shard counts (${
          counts.map((c) => `shard-*-of-${c}`).join(", ")
        }); pass the parts of one run`,
        parts.map((p) => p.file),
      );
    }
    const have = new Set(parts.map((p) => p.index));
    for (let i = 0; i < counts[0]; i++) {
      if (!have.has(i)) missing.push(join(dir, `shard-${i}-of-${counts[0]}.jsonl`));
    }
  }
  return missing;
}

/** Merged scores, one row per image. */
export interface ScoreSet {
  /** The files read, as named in messages. */
  files: string[];
  /** By image base name (`00000001_000.png`, whatever folder the line named), first occurrence. */
  rows: Map<string, ScoreRow>;
  /** Score lines (or rows) read, repeats included. */
  lines: number;
  /** Every error line. */
  errors: ScoreErrorLine[];
  /** Images scored more than once with the same scores (counted once): the first two places. */
  duplicates: { image: string; sources: [string, string] }[];
  /** Shard parts that should be there and are not (see {@linkcode checkShards}). */
  missingShards: string[];
  /** The one model version the lines carry; `null` when none does (a CSV). */
  modelVersion: string | null;
  /** Names left out as not being findings, over all files. */
  ignored: string[];
}

/** Options of {@linkcode mergeScores}. */
export interface MergeScoresOptions {
  /**
   * Largest difference of any score for which an image scored twice counts as the same result (the same
   * model on other hardware or another engine differs in the last float32 bits). @default 1e-6
   */
  tolerance?: number;
}

/**
 * Merges parsed files: one row per image base name, a repeat with the same scores (within `tolerance`)
 * counted once and reported, missing shard parts listed.
 *
 * @throws {ScoresConflictError} If an image has different scores in two places (naming both), the lines
 *   carry more than one model version, or the shard names conflict.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const row = (image: string, v: number, source: string) => ({ image, scores: new Float64Array(14).fill(v), source });
 * const part = (file: string, rows: ReturnType<typeof row>[]) => ({ file, format: "jsonl" as const, rows, errors: [], ignored: [] });
 * const set = mergeScores([part("s/shard-0-of-3.jsonl", [row("a.png", 0.1, "s/shard-0-of-3.jsonl:1")]),
 *   part("s/shard-2-of-3.jsonl", [row("images/a.png", 0.1, "s/shard-2-of-3.jsonl:1")])]);
 * assert.equal(set.rows.size, 1);
 * assert.deepEqual(set.duplicates[0].sources, ["s/shard-0-of-3.jsonl:1", "s/shard-2-of-3.jsonl:1"]);
 * assert.deepEqual(set.missingShards, ["s/shard-1-of-3.jsonl"]);
 * assert.throws(() => mergeScores([part("x.jsonl", [row("a.png", 0.1, "x.jsonl:1"), row("a.png", 0.2, "x.jsonl:2")])]),
 *   /"a.png" is scored twice with different scores: x.jsonl:1 and x.jsonl:2/);
 * ```
 */
export function mergeScores(parts: readonly ParsedScores[], options: MergeScoresOptions = {}): ScoreSet {
  const tolerance = options.tolerance ?? 1e-6;
  if (!(tolerance >= 0)) throw new RangeError(`mergeScores: tolerance must be >= 0, got ${tolerance}`);
  const missingShards = checkShards(parts.map((p) => p.file));
  const rows = new Map<string, ScoreRow>();
  const duplicates: ScoreSet["duplicates"] = [];
  const versions = new Map<string, string>();
  let lines = 0;
  for (const part of parts) {
    for (const row of part.rows) {
      lines++;
      if (row.modelVersion !== undefined && !versions.has(row.modelVersion)) {
        versions.set(row.modelVersion, row.source);
      }
      const key = basename(row.image);
      const first = rows.get(key);
      if (!first) {
        rows.set(key, row);
        continue;
      }
      let worst = 0, at = 0;
      for (let k = 0; k < C; k++) {
        const d = Math.abs(first.scores[k] - row.scores[k]);
        if (d > worst) [worst, at] = [d, k];
      }
      if (worst > tolerance) {
        throw new ScoresConflictError(
          `"${key}" is scored twice with different scores: ${first.source} and ${row.source} (${
            FINDINGS[at]
          } ` +
            `${first.scores[at]} and ${row.scores[at]}); keep the one you mean and remove the other`,
          [first.source, row.source],
        );
      }
      duplicates.push({ image: key, sources: [first.source, row.source] });
    }
  }
  if (versions.size > 1) {
    throw new ScoresConflictError(
      `The scores come from ${versions.size} model versions: ${
        [...versions].map(([v, s]) => `"${v}" (${s})`).join(", ")
      }; evaluate one model at a time`,
      [...versions.values()],
    );
  }
  return {
    files: parts.map((p) => p.file),
    rows,
    lines,
    errors: parts.flatMap((p) => p.errors),
    duplicates,
    missingShards,
    modelVersion: versions.size === 1 ? [...versions.keys()][0] : null,
    ignored: [...new Set(parts.flatMap((p) => p.ignored))],
  };
}

/** Options of {@linkcode readScores}. */
export interface ReadScoresOptions extends MergeScoresOptions {
  /** Opens the blob store for `blob:` sources (called once, at the first one). */
  openStore?: () => Promise<BlobStore>;
}

interface _Input {
  name: string;
  key: string;
  read(): Promise<Uint8Array>;
}

async function _inputs(spec: string, options: ReadScoresOptions): Promise<_Input[]> {
  if (spec.startsWith(BLOB)) {
    const path = spec.slice(BLOB.length).replace(/^\/+/, "");
    const slash = path.indexOf("/");
    const container = slash < 0 ? path : path.slice(0, slash);
    const prefix = slash < 0 ? "" : path.slice(slash + 1);
    if (container === "") throw new RangeError(`"${spec}": name the container, blob:CONTAINER/PREFIX`);
    if (!options.openStore) throw new TypeError(`readScores: "${spec}" needs options.openStore`);
    const store = await options.openStore();
    const folder = prefix === "" || prefix.endsWith("/") ? prefix : prefix + "/";
    const names: string[] = [];
    for await (const b of store.list(container, prefix)) {
      if (b.name === prefix) { // the prefix names one blob (it lists first)
        names.push(b.name);
        break;
      }
      const rest = b.name.slice(folder.length);
      if (b.name.startsWith(folder) && !rest.includes("/") && SCORE_FILE.test(rest)) names.push(b.name);
    }
    if (names.length === 0) {
      throw new EvaluationInputError(
        `No scores under ${spec}: no blob of that name, nor *.jsonl blobs in it`,
      );
    }
    return names.map((name) => ({
      name: `${BLOB}${container}/${name}`,
      key: `${BLOB}${container}/${name}`,
      read: async () => {
        const dir = await Deno.makeTempDir({ prefix: "cxr-scores-" });
        try {
          await store.downloadFile({ container, name }, join(dir, "part"));
          return await Deno.readFile(join(dir, "part"));
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    }));
  }
  let isDir: boolean;
  try {
    isDir = statSync(spec).isDirectory();
  } catch (e) {
    throw new Deno.errors.NotFound(`Cannot read scores "${spec}": no such file or folder`, { cause: e });
  }
  const files = isDir
    ? readdirSync(spec).filter((n) => SCORE_FILE.test(n)).sort().map((n) => join(spec, n))
    : [spec];
  if (files.length === 0) throw new EvaluationInputError(`No scores in folder "${spec}": no *.jsonl files`);
  return files.map((name) => ({ name, key: resolve(name), read: () => Deno.readFile(name) }));
}

function _text(bytes: Uint8Array, file: string): string {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`Cannot decompress "${file}": ${(e as Error).message}`, { cause: e });
    }
  }
  return new TextDecoder().decode(bytes);
}

/**
 * Reads and merges scores from files, folders (their `*.jsonl` and `*.jsonl.gz` files, not sub-folders)
 * and blob prefixes `blob:CONTAINER/PREFIX` (one blob of that name, else the `*.jsonl` blobs directly in
 * that folder), each file read once however often it is named; gzipped files are read too.
 *
 * @param sources Paths and `blob:` prefixes.
 * @throws {Deno.errors.NotFound} For a path that does not exist.
 * @throws {EvaluationInputError} For a folder or prefix without score files.
 * @throws {ScoresFileError} See {@linkcode parseScoresJsonl}, {@linkcode parseScoresCsv}.
 * @throws {ScoresConflictError} See {@linkcode mergeScores}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FINDINGS } from "../nih/mod.ts";
 * const dir = Deno.makeTempDirSync();
 * const line = (image: string) => JSON.stringify({ image, probabilities: Object.fromEntries(FINDINGS.map((f) => [f, 0.5])) });
 * Deno.writeTextFileSync(`${dir}/shard-0-of-2.jsonl`, line("00000001_000.png") + "\n");
 * Deno.writeTextFileSync(`${dir}/shard-1-of-2.jsonl`, "");
 * const set = await readScores([dir, `${dir}/shard-0-of-2.jsonl`]);
 * assert.equal(set.files.length, 2);
 * assert.deepEqual([...set.rows.keys()], ["00000001_000.png"]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function readScores(
  sources: readonly string[],
  options: ReadScoresOptions = {},
): Promise<ScoreSet> {
  let store: Promise<BlobStore> | undefined;
  const opened = { ...options, openStore: options.openStore && (() => store ??= options.openStore!()) };
  const inputs = new Map<string, _Input>();
  for (const spec of sources) {
    for (const i of await _inputs(spec, opened)) if (!inputs.has(i.key)) inputs.set(i.key, i);
  }
  const parts: ParsedScores[] = [];
  for (const input of inputs.values()) {
    parts.push(parseScoresText(_text(await input.read(), input.name), input.name));
  }
  return mergeScores(parts, options);
}

/** Scores matched with labels, ready for `evaluateScores`. */
export interface LabelledScores {
  /** The images evaluated, sorted by name. */
  images: string[];
  /** `images.length * 14` scores, row-major. */
  scores: Float64Array;
  /** `images.length * 14` labels, same layout. */
  labels: Uint8Array;
  /** Listed images without a score, in list order (empty without a list). */
  missing: string[];
  /** Scored images (listed, with a list) that the label file does not have, sorted. */
  unlabeled: string[];
  /** Scored images not in the list, sorted (empty without a list). */
  outsideList: string[];
}

/**
 * Matches scores with the label file's rows by image name: every scored image with labels, or, with
 * `list`, every listed image (reporting those without a score as `missing`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEntries, parseSplitList } from "../nih/mod.ts";
 * const entries = parseEntries("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender," +
 *   "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n" +
 *   "00000001_000.png,Mass,0,1,58,M,PA,2682,2749,0.143,0.143\n00000002_000.png,No Finding,0,2,81,M,PA,2500,2048,0.171,0.171\n");
 * const row = (v: number) => ({ image: "", scores: new Float64Array(14).fill(v), source: "" });
 * const rows = new Map([["00000002_000.png", row(0.2)], ["00000001_000.png", row(0.9)], ["00000009_000.png", row(0.5)]]);
 * const all = labelScores({ rows }, entries);
 * assert.deepEqual(all.images, ["00000001_000.png", "00000002_000.png"]);
 * assert.equal(all.labels[4], 1); // Mass of the first
 * assert.deepEqual(all.unlabeled, ["00000009_000.png"]);
 * const listed = labelScores({ rows }, entries, parseSplitList("00000002_000.png\n00000003_000.png"));
 * assert.deepEqual([listed.images, listed.missing], [["00000002_000.png"], ["00000003_000.png"]]);
 * assert.deepEqual(listed.outsideList, ["00000001_000.png", "00000009_000.png"]);
 * ```
 */
export function labelScores(
  set: Pick<ScoreSet, "rows">,
  entries: EntryTable,
  list?: SplitList,
): LabelledScores {
  const labelsOf = new Map(entries.entries.map((e) => [e.image, e.labels]));
  const images: string[] = [], missing: string[] = [], unlabeled: string[] = [];
  for (const name of list ? list.images : set.rows.keys()) {
    if (!set.rows.has(name)) missing.push(name);
    else if (!labelsOf.has(name)) unlabeled.push(name);
    else images.push(name);
  }
  images.sort();
  unlabeled.sort();
  const listed = list && new Set(list.images);
  const outsideList = listed ? [...set.rows.keys()].filter((k) => !listed.has(k)).sort() : [];
  const scores = new Float64Array(images.length * C);
  const labels = new Uint8Array(images.length * C);
  images.forEach((name, i) => {
    scores.set(set.rows.get(name)!.scores, i * C);
    labels.set(labelsOf.get(name)!, i * C);
  });
  return { images, scores, labels, missing, unlabeled, outsideList };
}

/** Names, and how many there are: `{count, first}` lists at most the first 10. */
export interface NameCount {
  /** How many. */
  count: number;
  /** The first few. */
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

function _names(names: readonly string[]): NameCount {
  return { count: names.length, first: names.slice(0, FIRST) };
}

function _some(c: NameCount): string {
  const more = c.count - c.first.length;
  return c.first.join(", ") + (more > 0 ? ` and ${more.toLocaleString("en-US")} more` : "");
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
 * assert.equal(report.json.classes.Mass.auroc, 1);
 * assert.equal(report.json.classes.Hernia.auroc, null);
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
    failed: _names(failed),
    duplicates: { count: set.duplicates.length, first: set.duplicates.slice(0, FIRST) },
    missingShards: set.missingShards,
    modelVersion: set.modelVersion,
    ignored: set.ignored,
    entries: { file: table.file, variant: table.variant, sha256: table.sha256 },
    list: list ? { file: list.file, images: list.images.length, sha256: list.sha256 } : null,
    evaluated: matched.images.length,
    missing: _names(matched.missing),
    unlabeled: _names(matched.unlabeled),
    outsideList: _names(matched.outsideList),
  };
  const model = { version: set.modelVersion ?? "unknown", engine: "scores", source: sources.join(", ") };
  const base = evaluateScores(matched.scores, matched.labels, FINDINGS, {
    bootstrap: options.bootstrap,
    seed: options.seed,
    partition: list ? list.file : "all scored",
    model,
  });
  const json: ScoresEvaluationJson = { ...base.json, model, scores: summary };
  const warnings: string[] = [];
  const notes: string[] = [];
  if (summary.missingShards.length > 0) {
    warnings.push(
      `missing shard parts (their images are not evaluated): ${summary.missingShards.join(", ")}`,
    );
  }
  if (summary.failed.count > 0) {
    warnings.push(
      `${summary.failed.count} images failed to score (error lines, no score): ${_some(summary.failed)}`,
    );
  }
  if (summary.missing.count > 0) {
    warnings.push(
      `${summary.missing.count} of the ${list!.images.length} images in ${list!.file} have no score: ${
        _some(summary.missing)
      }`,
    );
  }
  if (summary.unlabeled.count > 0) {
    warnings.push(
      `${summary.unlabeled.count} scored images are not in ${table.file} and are left out: ${
        _some(summary.unlabeled)
      }`,
    );
  }
  const failedSet = new Set(failed);
  const recovered = set.errors.filter((e) => !failedSet.has(basename(e.image))).length;
  if (recovered > 0) notes.push(`${recovered} error lines are for images scored in another line`);
  if (summary.duplicates.count > 0) {
    const first = summary.duplicates.first.map((d) => `${d.image} (${d.sources.join(", ")})`);
    notes.push(
      `${summary.duplicates.count} images are scored twice with the same scores and counted once: ${
        _some({ count: summary.duplicates.count, first })
      }`,
    );
  }
  if (summary.outsideList.count > 0) {
    notes.push(`${summary.outsideList.count} scored images are not in ${list!.file} and are left out`);
  }
  if (summary.ignored.length > 0) {
    notes.push(`not findings, left out: ${summary.ignored.map((n) => JSON.stringify(n)).join(", ")}`);
  }
  return { report: new EvaluationReport(json, { ...base.curves }), summary, warnings, notes };
}
