/**
 * `.dockerignore` rules as Docker applies them: one pattern per line, `#` comments, `!` re-includes, `*` and `?`
 * within one path segment, `**` across segments, and a pattern that matches a folder excludes all below it. The
 * last rule that matches a path decides.
 *
 * @module
 */

/** One parsed `.dockerignore` line. */
export interface IgnoreRule {
  /** The cleaned pattern (no leading `/` or `./`, no `!`). */
  pattern: string;
  /** A `!pattern` line: re-includes what earlier rules excluded. */
  negate: boolean;
  /** Matches the path itself or any folder above it. */
  regex: RegExp;
  /** The pattern's segments (for deciding whether a negation can reach below a folder). */
  segments: string[];
}

function _segmentRegex(segment: string): string {
  let out = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "[") {
      const end = segment.indexOf("]", i + 1);
      if (end < 0) out += "\\[";
      else {
        out += "[" + segment.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\") + "]";
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return out;
}

/**
 * Parses `.dockerignore` text into rules.
 *
 * @param text the file's contents.
 * @returns the rules in file order (blank lines and comments dropped).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const rules = parseDockerignore("# secrets\n.env\n**\/*.map\n!keep.map\n");
 * assert.deepEqual(rules.map((r) => [r.pattern, r.negate]), [[".env", false], ["**\/*.map", false], ["keep.map", true]]);
 * ```
 */
export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    if (negate) line = line.slice(1).trim();
    line = line.replace(/^(\.\/|\/)+/, "").replace(/\/+$/, "").replace(/\/+/g, "/");
    if (line === "" || line === ".") continue;
    const segments = line.split("/");
    const body = segments
      .map((s, i) =>
        s === "**"
          ? (i === segments.length - 1 ? ".*" : "(?:[^/]+/)*")
          : _segmentRegex(s) + (i < segments.length - 1 ? "/" : "")
      )
      .join("");
    rules.push({ pattern: line, negate, segments, regex: new RegExp(`^${body}(?:/.*)?$`) });
  }
  return rules;
}

/**
 * Whether the rules exclude a context path (relative, `/`-separated).
 *
 * @param path the path inside the build context, e.g. `lib/config_test.ts`.
 * @param rules from {@linkcode parseDockerignore}.
 * @returns `true` when the last matching rule excludes it.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const rules = parseDockerignore(".env\n**\/*_test.ts\ndata\nx/*.js\n!x/keep.js\n");
 * assert.equal(isIgnored(".env", rules), true);
 * assert.equal(isIgnored("lib/a/b_test.ts", rules), true);
 * assert.equal(isIgnored("data/images/1.png", rules), true);
 * assert.equal(isIgnored("x/drop.js", rules), true);
 * assert.equal(isIgnored("x/keep.js", rules), false);
 * assert.equal(isIgnored("lib/config.ts", rules), false);
 * ```
 */
export function isIgnored(path: string, rules: readonly IgnoreRule[]): boolean {
  let ignored = false;
  for (const rule of rules) {
    if (rule.negate === !ignored) continue; // this rule could not change the outcome
    if (rule.regex.test(path)) ignored = !rule.negate;
  }
  return ignored;
}

/**
 * Whether a folder that the rules exclude must still be walked because a `!` rule may re-include something
 * below it (Docker walks such folders too).
 *
 * @param dir the folder's context path.
 * @param rules from {@linkcode parseDockerignore}.
 * @returns `true` when some negation could match a path under `dir`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const rules = parseDockerignore("dist\n!dist/keep/*.js\n");
 * assert.equal(mayReinclude("dist", rules), true);
 * assert.equal(mayReinclude("other", rules), false);
 * ```
 */
export function mayReinclude(dir: string, rules: readonly IgnoreRule[]): boolean {
  const parts = dir.split("/");
  return rules.some((rule) => {
    if (!rule.negate) return false;
    for (let i = 0; i < parts.length; i++) {
      const seg = rule.segments[i];
      if (seg === undefined) return false;
      if (seg === "**") return true;
      if (!new RegExp(`^${_segmentRegex(seg)}$`).test(parts[i])) return false;
    }
    return rule.segments.length > parts.length;
  });
}
