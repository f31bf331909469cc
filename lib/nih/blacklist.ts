/**
 * The blacklist: an optional text file of image names to leave out of every split (mislabelled, wrong body
 * part, unreadable). One name per line; blank lines and `#` comments are ignored.
 *
 * @module
 */
import { IMAGE_NAME, notAnImageName, readInputFile } from "./_format.ts";
import { NihFormatError } from "./errors.ts";

/** A parsed blacklist. */
export interface Blacklist {
  /** The file name used in messages. */
  file: string;
  /** The names, in file order, without duplicates. */
  images: string[];
  /** Hex sha256 of the file as stored; empty when parsed from text. */
  sha256: string;
}

/**
 * Parses a blacklist's text. A `#` starts a comment (whole line or after a name); surrounding spaces are
 * ignored; a name listed twice counts once.
 *
 * @throws {NihFormatError} On a line that is not an image name like `00000001_000.png`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const b = parseBlacklist("# lateral views\n00000001_000.png\n\n00000002_000.png  # rotated\n00000001_000.png\n");
 * assert.deepEqual(b.images, ["00000001_000.png", "00000002_000.png"]);
 * assert.throws(() => parseBlacklist("00000001_000.png\nimage.png\n"), /line 2, column 1: expected an image name/);
 * ```
 */
export function parseBlacklist(text: string, options: { file?: string } = {}): Blacklist {
  const file = options.file ?? "blacklist.txt";
  const seen = new Set<string>();
  for (const [n, raw] of text.split("\n").entries()) {
    const hash = raw.indexOf("#");
    const body = hash >= 0 ? raw.slice(0, hash) : raw;
    const name = body.trim();
    if (name === "") continue;
    if (!IMAGE_NAME.test(name)) {
      throw new NihFormatError(notAnImageName(name, n), file, n + 1, body.indexOf(name) + 1);
    }
    seen.add(name);
  }
  return { file, images: [...seen], sha256: "" };
}

/**
 * Reads and parses a blacklist file (plain or gzipped).
 *
 * @throws {NihFormatError} See {@linkcode parseBlacklist}.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeFileSync } from "node:fs";
 * const path = Deno.makeTempFileSync({ suffix: ".txt" });
 * writeFileSync(path, "00000001_000.png\n");
 * assert.deepEqual(readBlacklist(path).images, ["00000001_000.png"]);
 * Deno.removeSync(path);
 * ```
 */
export function readBlacklist(path: string): Blacklist {
  const input = readInputFile(path);
  return { ...parseBlacklist(input.text, { file: input.name }), sha256: input.sha256 };
}

/** What {@linkcode applyBlacklist} kept and left out. */
export interface BlacklistResult<T> {
  /** The entries not blacklisted, in their order. */
  kept: T[];
  /** The blacklisted names found among the entries. */
  removed: string[];
  /** Blacklisted names not among the entries (worth a warning, not an error). */
  unknown: string[];
}

/**
 * Leaves the blacklisted images out of `entries`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const entries = [{ image: "00000001_000.png" }, { image: "00000002_000.png" }];
 * const r = applyBlacklist(entries, ["00000002_000.png", "00000099_000.png"]);
 * assert.deepEqual(r.kept.map((e) => e.image), ["00000001_000.png"]);
 * assert.deepEqual(r.removed, ["00000002_000.png"]);
 * assert.deepEqual(r.unknown, ["00000099_000.png"]);
 * ```
 */
export function applyBlacklist<T extends { image: string }>(
  entries: readonly T[],
  images: readonly string[],
): BlacklistResult<T> {
  const black = new Set(images);
  const kept: T[] = [];
  const found = new Set<string>();
  for (const e of entries) {
    if (black.has(e.image)) found.add(e.image);
    else kept.push(e);
  }
  return {
    kept,
    removed: images.filter((n) => found.has(n)),
    unknown: images.filter((n) => !found.has(n)),
  };
}
