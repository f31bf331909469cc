/**
 * The JSON lines `cxr score` writes, read back for evaluation ({@linkcode parseScoresJsonl}), and the shapes
 * every scores file, CSV included, parses into ({@linkcode ParsedScores}).
 *
 * @module
 */
import { findingIndex, FINDINGS } from "../nih/mod.ts";
import { CxrSyntaxError } from "../errors.ts";
import { jsonErrorOffset } from "../json_position.ts";

const C = FINDINGS.length;

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
export class ScoresFileError extends CxrSyntaxError {
  /**
   * @param reason What was wrong, without the place.
   * @param where The file and the 1-based line and column.
   */
  constructor(reason: string, where: { file: string; line: number; column: number }, options?: ErrorOptions) {
    const { file, line, column } = where;
    super(`Cannot read "${file}" at line ${line}, column ${column}: ${reason}`, file, line, column, options);
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
 * assert.equal(p.rows[0]?.modelVersion, "v1");
 * assert.equal(p.rows[0]?.source, "shard-0-of-1.jsonl:1");
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
  for (const [n, text] of lines.entries()) {
    let line = text.endsWith("\r") ? text.slice(0, -1) : text;
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
        `invalid JSON (${((e as Error).message.split("\n", 1)[0] ?? "").slice(0, 80)})`,
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
    const version = [model?.version, obj.model_version].find((v): v is string => typeof v === "string");
    rows.push(
      version === undefined ? { image, scores, source } : { image, scores, source, modelVersion: version },
    );
  }
  return { file, format: "jsonl", rows, errors, ignored: [...ignored] };
}
