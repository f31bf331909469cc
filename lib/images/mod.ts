/**
 * Images: NIH PNGs decoded to grey and resized with sharp, uncompressed DICOM files read to grey, the preprocessed cache (`cxr-cache/1`: one
 * contiguous uint8 `.bin` per partition plus a `.json` index) built resumably and in shards, its reader, and
 * training-time augmentation in pure TypeScript.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CACHE_FORMAT, createRng, warpImage } from "./mod.ts";
 * assert.equal(CACHE_FORMAT, "cxr-cache/1");
 * const img = new Uint8Array([1, 2, 3, 4]);
 * assert.deepEqual([...warpImage(img, 2, { flip: false, angle: 0, scale: 1 })], [1, 2, 3, 4]);
 * assert.equal(typeof createRng(0)(), "number");
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./cache_format.ts";
export * from "./cache.ts";
export * from "./decode.ts";
export * from "./sniff.ts";
export * from "./dicom.ts";
export * from "./build_cache.ts";
export * from "./merge.ts";
export * from "./preprocess.ts";
export * from "./preprocess_blob.ts";
export * from "./augment.ts";
