/**
 * The machine step's failures, all {@linkcode VmError}s.
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

/** An `az` command failed; the message has its last line of output, `command` the line (no secret in it). */
export class AzCommandError extends VmError {
  constructor(message: string, readonly command: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The user declined to create the Azure resources. */
export class SetupCancelledError extends VmError {}
