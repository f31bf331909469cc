/**
 * Parsed scores files merged into one row per image ({@linkcode mergeScores}): shard sets checked for gaps,
 * repeats compared, error lines kept, one model version required.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { FINDINGS } from "../nih/mod.ts";
import { ScoresConflictError } from "./errors.ts";
import type { ParsedScores, ScoreErrorLine, ScoreRow } from "./scores_format.ts";

const C = FINDINGS.length;
/** Shard parts as `cxr score --shard i/N --to-blob PREFIX/` and Indexed Jobs name them (0-based i). */
const SHARD = /^shard-(\d+)-of-(\d+)\.jsonl(?:\.gz)?$/;

/**
 * The missing parts of the shard sets among `files` (base names `shard-<i>-of-<N>.jsonl`), grouped by folder.
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
      const numbered = `numbered 0 to ${count - 1} (cxr score --shard i/N, $JOB_COMPLETION_INDEX)`;
      const message = `"${file}" is shard ${index} of ${count}, but the shards of ${count} are ${numbered}`;
      throw new ScoresConflictError(message, [file]);
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
    const [count = 0] = counts;
    for (let i = 0; i < count; i++) {
      if (!have.has(i)) missing.push(join(dir, `shard-${i}-of-${count}.jsonl`));
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
 * assert.deepEqual(set.duplicates[0]?.sources, ["s/shard-0-of-3.jsonl:1", "s/shard-2-of-3.jsonl:1"]);
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
        const d = Math.abs(first.scores[k]! - row.scores[k]!);
        if (d > worst) [worst, at] = [d, k];
      }
      if (worst > tolerance) {
        const values = `${FINDINGS[at]} ${first.scores[at]} and ${row.scores[at]}`;
        throw new ScoresConflictError(
          `"${key}" is scored twice with different scores: ${first.source} and ${row.source} (${values}); ` +
            "keep the one you mean and remove the other",
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
    modelVersion: versions.size === 1 ? [...versions.keys()][0] ?? null : null,
    ignored: [...new Set(parts.flatMap((p) => p.ignored))],
  };
}
