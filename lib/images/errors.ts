/**
 * The base of the images step's errors; each failure keeps its class beside the code that throws it (the cache
 * index's parse error, `CacheFormatError`, is a `CxrSyntaxError` instead).
 *
 * @module
 */
import { CxrError } from "../errors.ts";

/**
 * Base of every images-step failure (decoding, DICOM, the cache, preprocessing).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CxrError } from "../errors.ts";
 * import { DecodeError } from "./decode.ts";
 * const e = new DecodeError("pngload: libspng read error", "a.png");
 * assert.ok(e instanceof ImagesError && e instanceof CxrError);
 * assert.equal(e.name, "DecodeError");
 * assert.equal(e.message, 'Cannot decode image "a.png": pngload: libspng read error');
 * ```
 */
export class ImagesError extends CxrError {}
