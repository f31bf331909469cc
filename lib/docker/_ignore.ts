/**
 * `.dockerignore` rules as Docker applies them, through `npm:@balena/dockerignore` (a port of moby's own
 * matcher): one pattern per line, `#` comments, `!` re-includes, `*` and `?` within one path segment, `**`
 * across segments, a pattern that matches a folder excludes all below it, and the last matching rule decides.
 *
 * @module
 */
import balena from "@balena/dockerignore";

/** The package is CommonJS: its factory is `module.exports`, which is also its `default` (as its types say). */
const dockerignore = balena.default;

/** Parsed `.dockerignore` text. */
export interface IgnoreRules {
  /** Decides every path (case-sensitive, as Docker on Linux). */
  matcher: ReturnType<typeof dockerignore>;
  /** The segments of each `!` pattern (for {@linkcode mayReinclude}). */
  negations: string[][];
}

/**
 * Parses `.dockerignore` text into rules.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const rules = parseDockerignore("# secrets\n.env\n**\/*.map\n!keep.map\n");
 * assert.deepEqual(rules.negations, [["keep.map"]]);
 * ```
 */
export function parseDockerignore(text: string): IgnoreRules {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  const negations = lines.filter((l) => l.startsWith("!"))
    .map((l) => l.slice(1).trim().replace(/^(\.\/|\/)+/, "").replace(/\/+$/, "").split(/\/+/));
  return { matcher: compileMatcher(lines), negations };
}

/**
 * The package (1.0.2) copies `+ ( ) { } |` into its RegExp unescaped, so `@img+sharp-*` would never match the
 * folder `@img+sharp-linuxmusl-x64`; escaped, they match themselves as in `filepath.Match`. Docker on Linux
 * compares case-sensitively (the package's default is not to).
 */
function compileMatcher(patterns: string[]): ReturnType<typeof dockerignore> {
  return dockerignore({ ignorecase: false }).add(patterns.map((p) => p.replace(/[+(){}|]/g, "\\$&")));
}

/**
 * Whether the last matching rule excludes a context path (relative, `/`-separated).
 *
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
export function isIgnored(path: string, rules: IgnoreRules): boolean {
  return rules.matcher.ignores(path);
}

/**
 * Whether a folder that the rules exclude must still be walked because a `!` rule may re-include something
 * below it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const rules = parseDockerignore("dist\n!dist/keep/*.js\n");
 * assert.equal(mayReinclude("dist", rules), true);
 * assert.equal(mayReinclude("other", rules), false);
 * ```
 */
export function mayReinclude(dir: string, rules: IgnoreRules): boolean {
  const parts = dir.split("/");
  return rules.negations.some((segments) => {
    for (const [i, part] of parts.entries()) {
      const seg = segments[i];
      if (seg === undefined) return false;
      if (seg === "**") return true;
      if (!compileMatcher([seg]).ignores(part)) return false;
    }
    return segments.length > parts.length;
  });
}
