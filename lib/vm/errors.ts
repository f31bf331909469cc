/**
 * The machine step's failures: {@linkcode VmError} is the base of all of them (a kind of
 * {@linkcode CxrError}).
 *
 * @module
 */
import { CxrError } from "../errors.ts";

/**
 * Base of the machine step's errors (set-up, settings file, the machine's answers).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new AzCommandError('"az storage account create" failed: quota exceeded', "az storage account create");
 * assert.ok(e instanceof VmError);
 * assert.equal(e.name, "AzCommandError");
 * assert.equal(e.command, "az storage account create");
 * ```
 */
export class VmError extends CxrError {}

/** An `az` command failed; `command` is the line that failed (no secret in it). */
export class AzCommandError extends VmError {
  /**
   * @param message What failed, with the command's last line of output.
   * @param command The command line.
   * @param options `cause`: the error behind this one.
   */
  constructor(message: string, readonly command: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The user declined to create the Azure resources. */
export class SetupCancelledError extends VmError {}
