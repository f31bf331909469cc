/**
 * The report step's failures: {@linkcode ReportError} is the base of all of them (a kind of
 * {@linkcode CxrError}); a notebook file that cannot be parsed is a {@linkcode NotebookSyntaxError} (a
 * `SyntaxError`). A failing cell is no error: `runNotebook` reports it in its result.
 *
 * @module
 */
import { CxrError, CxrSyntaxError } from "../errors.ts";

/**
 * Base of the report step's errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new NotebookRunError('Cannot execute notebook "a.ipynb": exit code 1', "a.ipynb");
 * assert.ok(e instanceof ReportError);
 * assert.equal(e.name, "NotebookRunError");
 * assert.equal(e.notebook, "a.ipynb");
 * ```
 */
export class ReportError extends CxrError {}

/** The notebook could not be run or exported at all (kernel would not start, Jupyter broke). Not a failing cell. */
export class NotebookRunError extends ReportError {
  constructor(message: string, readonly notebook: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The Jupyter server did not start or stopped answering, or the Deno kernel could not be registered. */
export class JupyterServerError extends ReportError {}

/** No Python interpreter with nbclient/nbconvert is installed. */
export class JupyterNotFoundError extends ReportError {
  constructor(message: string, readonly tried: string[], options?: ErrorOptions) {
    super(message, options);
  }
}

/** A `--param` names a variable the `parameters` cell does not declare, or the notebook has no such cell. */
export class UnknownParameterError extends ReportError {
  /**
   * @param names The unknown names.
   * @param valid The names the notebook does declare.
   */
  constructor(message: string, readonly names: string[], readonly valid: string[], options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * A notebook file that is not valid JSON or not an nbformat 4 notebook; `line` and `column` are 1 when the
 * place is unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new NotebookSyntaxError('Cannot read notebook "a.ipynb" at line 1, column 1: no cells', "a.ipynb", 1, 1);
 * assert.ok(e instanceof SyntaxError);
 * assert.deepEqual([e.name, e.file, e.line], ["NotebookSyntaxError", "a.ipynb", 1]);
 * ```
 */
export class NotebookSyntaxError extends CxrSyntaxError {}
