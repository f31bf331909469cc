/**
 * What an image file is, from its first bytes (its magic), whatever its name or Content-Type says: PNG, JPEG or
 * DICOM Part-10, the formats the workflow reads. sharp would also rasterise SVG, GIF, WebP, TIFF and more;
 * preprocessing and scoring check the magic first so that only these three are decoded.
 *
 * @module
 */

/** The image formats the workflow accepts, recognised by {@linkcode sniffImageFormat}. */
export const IMAGE_FORMATS = ["png", "jpeg", "dicom"] as const;
/** One accepted image format. */
export type ImageFormat = typeof IMAGE_FORMATS[number];

/** Bytes {@linkcode sniffImageFormat} needs to see: DICOM's `DICM` sits at offset 128. */
export const SNIFF_BYTES = 132;

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The format of encoded image bytes from their signature: PNG (`89 50 4E 47 0D 0A 1A 0A`), JPEG (`FF D8 FF`)
 * or DICOM Part-10 (`DICM` at offset 128); `undefined` for anything else (SVG, GIF, WebP, text...).
 *
 * @param head The file's first bytes (at least {@linkcode SNIFF_BYTES} to recognise DICOM), or all of them.
 * @returns The format, or `undefined`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(sniffImageFormat(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10, 0])), "png");
 * assert.equal(sniffImageFormat(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), "jpeg");
 * const dicom = new Uint8Array(132);
 * dicom.set(new TextEncoder().encode("DICM"), 128);
 * assert.equal(sniffImageFormat(dicom), "dicom");
 * assert.equal(sniffImageFormat(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>')), undefined);
 * ```
 */
export function sniffImageFormat(head: Uint8Array): ImageFormat | undefined {
  if (head.length >= PNG.length && PNG.every((b, i) => head[i] === b)) return "png";
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "jpeg";
  return isDicom(head) ? "dicom" : undefined;
}

/**
 * Whether bytes start like a DICOM Part-10 file (`DICM` at offset 128).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const bytes = new Uint8Array(132);
 * bytes.set([0x44, 0x49, 0x43, 0x4d], 128);
 * assert.equal(isDicom(bytes), true);
 * assert.equal(isDicom(new Uint8Array(10)), false);
 * ```
 */
export function isDicom(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && String.fromCharCode(...bytes.subarray(128, 132)) === "DICM";
}

const KNOWN: [RegExp | number[], string][] = [
  [/^\s*(<\?xml|<svg|<!DOCTYPE svg)/i, "SVG or XML text"],
  [/^GIF8[79]a/, "a GIF image"],
  [/^RIFF.{4}WEBP/s, "a WebP image"],
  [[0x49, 0x49, 0x2a, 0x00], "a TIFF image"],
  [[0x4d, 0x4d, 0x00, 0x2a], "a TIFF image"],
  [/^BM/, "a BMP image"],
  [[0x1f, 0x8b], "gzip data"],
  [/^%PDF-/, "a PDF document"],
];

/**
 * Why bytes that {@linkcode sniffImageFormat} does not recognise are refused, in words for a failure list:
 * names a few common look-alikes (SVG, GIF, WebP, TIFF...), never quotes the content.
 *
 * @param head The file's first bytes.
 * @returns A reason such as `not a PNG, JPEG or DICOM image (its bytes are SVG or XML text)`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(unsupportedImageReason(new TextEncoder().encode("<svg/>")), "not a PNG, JPEG or DICOM image (its bytes are SVG or XML text)");
 * assert.equal(unsupportedImageReason(new Uint8Array(0)), "not a PNG, JPEG or DICOM image (the file is empty)");
 * assert.equal(unsupportedImageReason(new Uint8Array([1, 2, 3])), "not a PNG, JPEG or DICOM image (no known signature)");
 * ```
 */
export function unsupportedImageReason(head: Uint8Array): string {
  const text = new TextDecoder("latin1").decode(head.subarray(0, 64));
  const matches = (sig: RegExp | number[]) =>
    sig instanceof RegExp ? sig.test(text) : sig.every((b, i) => head[i] === b);
  const kind = head.length === 0 ? "the file is empty" : KNOWN.find(([sig]) => matches(sig))?.[1];
  const why = kind === undefined ? "no known signature" : head.length === 0 ? kind : `its bytes are ${kind}`;
  return `not a PNG, JPEG or DICOM image (${why})`;
}
