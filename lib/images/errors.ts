/**
 * The base of the images step's errors. Each failure keeps its class beside the code that throws it
 * (`DecodeError` in decode.ts, `DicomError` in dicom.ts, `CacheError` in cache.ts, `NoImagesError` in
 * build_cache.ts, `MissingLabelsError` in preprocess.ts); all of them extend {@linkcode ImagesError}, and the
 * cache index's parse error (`CacheFormatError`) extends `CxrSyntaxError`.
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
