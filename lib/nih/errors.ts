/**
 * {@linkcode NihError}, the base of the nih step's errors, and the errors every NIH file reader shares. Each
 * other failure keeps its class beside the code that throws it (`ChecksumMismatchError` in download.ts, ...);
 * the parse errors extend `CxrSyntaxError`.
 *
 * @module
 */
import { CxrError, CxrSyntaxError } from "../errors.ts";

/**
 * Base of every nih-step failure (labels, splits, archives, downloads, the synthetic set).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CxrError } from "../errors.ts";
 * const e = new GzipError("the gzip stream is corrupt", "x.csv.gz");
 * assert.ok(e instanceof NihError && e instanceof CxrError);
 * assert.equal(e.name, "GzipError");
 * ```
 */
export class NihError extends CxrError {}

/**
 * A file that does not parse: names the file, the 1-based line and column, and what was wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new NihFormatError("expected 11 fields, found 9", "Data_Entry_2017.csv", 12, 3);
 * assert.ok(e instanceof SyntaxError);
 * assert.equal(e.message, 'Cannot read "Data_Entry_2017.csv" at line 12, column 3: expected 11 fields, found 9');
 * assert.deepEqual([e.file, e.line, e.column, e.reason], ["Data_Entry_2017.csv", 12, 3, "expected 11 fields, found 9"]);
 * ```
 */
export class NihFormatError extends CxrSyntaxError {
  declare readonly file: string;
  declare readonly line: number;
  declare readonly column: number;
  /**
   * @param reason What was wrong, without the place.
   * @param file The file (as given by the caller).
   * @param line 1-based line.
   * @param column 1-based column (characters).
   */
  constructor(readonly reason: string, file: string, line: number, column: number, options?: ErrorOptions) {
    super(`Cannot read "${file}" at line ${line}, column ${column}: ${reason}`, file, line, column, options);
  }
}

/**
 * A gzip file that cannot be decompressed (truncated download, corrupt bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new GzipError("unexpected end of file", "x.csv.gz");
 * assert.match(e.message, /Cannot decompress "x.csv.gz": unexpected end of file/);
 * ```
 */
export class GzipError extends NihError {
  constructor(reason: string, readonly file: string, options?: ErrorOptions) {
    super(`Cannot decompress "${file}": ${reason}`, options);
  }
}

/**
 * A file is larger than a reader of that kind accepts (a wrong path such as `/dev/zero`, a disk image, a gzip
 * bomb): nothing beyond the limit was read or decompressed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new InputTooLargeError("it is larger than 64 MiB", "zero", 64 * 1024 * 1024);
 * assert.equal(e.message, 'Cannot read "zero": it is larger than 64 MiB, more than any NIH label or list file; is it the right file?');
 * ```
 */
export class InputTooLargeError extends NihError {
  /**
   * @param reason How it is too large, with the limit (`it is larger than 64 MiB`).
   * @param file The file, as named in messages.
   * @param limit The limit in bytes.
   */
  constructor(reason: string, readonly file: string, readonly limit: number, options?: ErrorOptions) {
    super(
      `Cannot read "${file}": ${reason}, more than any NIH label or list file; is it the right file?`,
      options,
    );
  }
}
