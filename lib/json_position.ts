/**
 * Where a JSON text goes wrong, as 1-based line and column: shared by every parser of a JSON wire format (split
 * files, cache indexes, bundle metadata, scoring requests and responses), since V8's `JSON.parse` messages do
 * not always carry the offset.
 *
 * @module
 */

/**
 * Offset of the first character at which `text` stops being valid JSON (`text.length` when it is valid or ends
 * too early). Nesting deeper than 512 levels counts as invalid there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(jsonErrorOffset('{"a": [1, 2,]}'), 12);
 * assert.equal(jsonErrorOffset('{"a": 1}'), 8);
 * ```
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const value = (depth: number): void => {
    if (depth > 512) fail();
    ws();
    const c = text[i];
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        if (c === "{") {
          ws();
          if (text[i] !== '"') fail();
          value(depth + 1);
          ws();
          if (text[i] !== ":") fail();
          i++;
        }
        value(depth + 1);
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === close) return void i++;
        else fail();
      }
    }
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === "\\") i++;
        else if (text.charCodeAt(i) < 0x20) fail();
      }
      if (i >= text.length) fail();
      return void i++;
    }
    const m = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) fail();
    i += m![0].length;
  };
  try {
    value(0);
    ws();
    return i;
  } catch (offset) {
    return offset as number;
  }
}

/**
 * 1-based line and column of character `offset` in `text` (clamped to the text).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(lineColumn("ab\ncd", 4), { line: 2, column: 2 });
 * ```
 */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  const end = Math.max(0, Math.min(offset, text.length));
  for (let i = text.indexOf("\n"); i >= 0 && i < end; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: end - start + 1 };
}

/**
 * Line and column where `text` stops being valid JSON: what a parser puts in its `SyntaxError` after
 * `JSON.parse` threw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(jsonErrorPosition('{\n  "a": tru\n}'), { line: 2, column: 8 });
 * ```
 */
export function jsonErrorPosition(text: string): { line: number; column: number } {
  return lineColumn(text, jsonErrorOffset(text));
}
