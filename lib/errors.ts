/**
 * The two roots of every error the toolkit throws on purpose, so that each step's errors look alike:
 *
 * - {@linkcode CxrError}: a failure a caller may want to tell apart (each step has one subclass as its base,
 *   `NihError`, `StorageError`, `ModelError`, ...). Constructors take `(message, ...fields, options)`.
 * - {@linkcode CxrSyntaxError}: a file or text that cannot be parsed, with where (`file`, `line`, `column`),
 *   a `SyntaxError` as STYLE §4 asks.
 *
 * Both set `name` to the subclass's own name (no constructor needed just for that) and pass the message
 * through {@linkcode redactSecrets}, so a registered key, SAS signature or scoring key never shows in a
 * message, a log line or a notebook.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * class ThingError extends CxrError {}
 * class BrokenThingError extends ThingError {
 *   constructor(message: string, readonly thing: string, options?: ErrorOptions) {
 *     super(message, options);
 *   }
 * }
 * const e = new BrokenThingError("Thing 7 is broken", "7", { cause: new Error("inner") });
 * assert.ok(e instanceof ThingError && e instanceof CxrError && e instanceof Error);
 * assert.equal(e.name, "BrokenThingError");
 * assert.equal(e.thing, "7");
 * assert.equal((e.cause as Error).message, "inner");
 * ```
 *
 * @module
 */
import { redactSecrets } from "./secrets.ts";

/**
 * Base of the toolkit's domain errors. `name` is the class's name; the message is redacted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new CxrError("Cannot reach https://a.blob/x?sig=c2VjcmV0Lw%3D%3D");
 * assert.equal(e.name, "CxrError");
 * assert.equal(e.message, "Cannot reach https://a.blob/x?sig=***");
 * ```
 */
export class CxrError extends Error {
  /**
   * @param message What failed and where (a file, a URL without its secrets, a variable), and what to do.
   * @param options `cause`: the error behind this one.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(redactSecrets(message), options);
    this.name = new.target.name;
  }
}

/**
 * Text that cannot be parsed: `file` (or a label for the input), and the 1-based `line` and `column` where
 * that is known. The message says all of it; the fields let a caller point at the place.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * class CsvSyntaxError extends CxrSyntaxError {}
 * const e = new CsvSyntaxError('Cannot read "a.csv" at line 2, column 3: expected 11 fields, found 9', "a.csv", 2, 3);
 * assert.ok(e instanceof SyntaxError && e instanceof CxrSyntaxError);
 * assert.deepEqual([e.name, e.file, e.line, e.column], ["CsvSyntaxError", "a.csv", 2, 3]);
 * ```
 */
export class CxrSyntaxError extends SyntaxError {
  /**
   * @param message What could not be read and where, in the message style `Cannot read "f" at line 3, ...`.
   * @param file The file (or input label) that holds the text.
   * @param line 1-based line, where known.
   * @param column 1-based column, where known.
   * @param options `cause`: the error behind this one.
   */
  constructor(
    message: string,
    readonly file?: string,
    readonly line?: number,
    readonly column?: number,
    options?: ErrorOptions,
  ) {
    super(redactSecrets(message), options);
    this.name = new.target.name;
  }
}
