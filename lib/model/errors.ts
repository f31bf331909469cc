/**
 * The base of the model step's errors. Each failure keeps its class beside the code that throws it
 * (`BundleMismatchError` in bundle.ts, `ModelFileError` in io.ts, ...); all of them extend
 * {@linkcode ModelError}, and the two parse errors (`BundleMetadataSyntaxError`, `KerasConfigSyntaxError`)
 * extend `CxrSyntaxError`.
 *
 * @module
 */
import { CxrError } from "../errors.ts";

/**
 * Base of every model-step failure (backend, bundle, model file, Keras import, ONNX, pretrained weights).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CxrError } from "../errors.ts";
 * import { BundleMismatchError } from "./bundle.ts";
 * const e = new BundleMismatchError("14 outputs but 13 class names", "b");
 * assert.ok(e instanceof ModelError && e instanceof CxrError);
 * assert.equal(e.name, "BundleMismatchError");
 * ```
 */
export class ModelError extends CxrError {}
