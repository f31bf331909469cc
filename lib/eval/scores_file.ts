/**
 * Scores made elsewhere, read from files, folders and blob prefixes ({@linkcode readScores}): `cxr score`'s
 * JSON lines (one file, or the shard parts an Indexed Job uploads), plain or gzipped, or a CSV; all merged.
 *
 * @module
 */
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import type { BlobStore } from "../storage/mod.ts";
import { EvalError, EvaluationInputError } from "./errors.ts";
import { type ParsedScores, parseScoresJsonl } from "./scores_format.ts";
import { parseScoresCsv } from "./scores_csv.ts";
import { mergeScores, type MergeScoresOptions, type ScoreSet } from "./scores_merge.ts";

/** Files taken from a folder or blob prefix. */
const SCORE_FILE = /\.jsonl(?:\.gz)?$/i;
const BLOB = "blob:";

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

/** Options of {@linkcode readScores}. */
export interface ReadScoresOptions extends MergeScoresOptions {
  /** Opens the blob store for `blob:` sources (called once, at the first one). */
  openStore?: (() => Promise<BlobStore>) | undefined;
}

interface ScoresInput {
  name: string;
  key: string;
  read(): Promise<Uint8Array>;
}

async function scoresInputs(spec: string, options: ReadScoresOptions): Promise<ScoresInput[]> {
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

function decodeScores(bytes: Uint8Array, file: string): string {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new EvalError(`Cannot decompress "${file}": ${(e as Error).message}`, { cause: e });
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
  const inputs = new Map<string, ScoresInput>();
  for (const spec of sources) {
    for (const i of await scoresInputs(spec, opened)) if (!inputs.has(i.key)) inputs.set(i.key, i);
  }
  const parts: ParsedScores[] = [];
  for (const input of inputs.values()) {
    parts.push(parseScoresText(decodeScores(await input.read(), input.name), input.name));
  }
  return mergeScores(parts, options);
}
