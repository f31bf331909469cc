/**
 * Decoding NIH PNGs into square grey pixel arrays with `sharp` (libvips): grey and RGBA input (about 1 % of
 * the NIH images are RGBA with equal colour channels) become one channel; the image is resized to S×S with
 * libvips' Lanczos-3 kernel (`fit: "fill"`; NIH images are square, so nothing is stretched).
 *
 * @module
 */
import sharp from "sharp";

/** The resampling kernel used by {@linkcode decodeImage}. */
export const RESIZE_KERNEL = "lanczos3";

/** An image that could not be read or decoded; `reason` is the decoder's own message. */
export class DecodeError extends Error {
  /** The file (or `"<buffer>"`). */
  source: string;
  /** The decoder's message, e.g. `pngload: libspng read error`. */
  reason: string;
  constructor(source: string, reason: string, options?: ErrorOptions) {
    super(`Cannot decode image "${source}": ${reason}`, options);
    this.name = "DecodeError";
    this.source = source;
    this.reason = reason;
  }
}

/** Options of {@linkcode decodeImage}. */
export interface DecodeOptions {
  /** Where to write the S×S pixels (length S*S); a new array when absent. */
  into?: Uint8Array;
}

/**
 * Decodes a PNG (or any format sharp reads) to S×S 8-bit grey pixels, row-major.
 *
 * @param input A file path or the encoded bytes.
 * @param size Side S of the output square (1..16384).
 * @returns The pixels (`options.into` when given).
 * @throws {RangeError} If `size` is not an integer in range or `into` has the wrong length.
 * @throws {DecodeError} If the file is missing, truncated or not an image.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * const rgba = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 200, g: 200, b: 200, alpha: 1 } } })
 *   .png().toBuffer();
 * const grey = await decodeImage(rgba, 4);
 * assert.equal(grey.length, 16);
 * assert.ok(grey.every((v) => v === 200));
 * await assert.rejects(decodeImage(rgba.subarray(0, 40), 4), DecodeError);
 * ```
 */
export async function decodeImage(
  input: string | Uint8Array,
  size: number,
  options: DecodeOptions = {},
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(size) || size < 1 || size > 16384) {
    throw new RangeError(`decodeImage: size must be an integer 1..16384, got ${size}`);
  }
  if (options.into && options.into.length !== size * size) {
    throw new RangeError(`decodeImage: into has ${options.into.length} bytes, expected ${size * size}`);
  }
  const source = typeof input === "string" ? input : "<buffer>";
  let data: Uint8Array, channels: number;
  try {
    const out = await sharp(input)
      .removeAlpha()
      .toColourspace("b-w")
      .resize(size, size, { fit: "fill", kernel: RESIZE_KERNEL })
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    data = out.data;
    channels = out.info.channels;
  } catch (e) {
    throw new DecodeError(source, await _diagnose(input, (e as Error).message), { cause: e });
  }
  const target = options.into ?? new Uint8Array(size * size);
  if (channels === 1) {
    target.set(data.subarray(0, size * size));
  } else {
    for (let i = 0; i < size * size; i++) target[i] = data[i * channels];
  }
  return target;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * A stable reason for a failed decode. libvips words the same truncated PNG differently from run to run
 * ("pngload: end of stream", "Warning treated as error due to failOn setting"), so a PNG that lacks its
 * closing IEND chunk is reported as truncated in one fixed wording; anything else keeps the decoder's message.
 */
async function _diagnose(input: string | Uint8Array, decoderMessage: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = typeof input === "string" ? await Deno.readFile(input) : input;
  } catch {
    return decoderMessage; // missing or unreadable: the decoder said so already
  }
  const isPng = bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
  const tail = new TextDecoder("latin1").decode(bytes.subarray(Math.max(0, bytes.length - 12)));
  if (isPng && !tail.includes("IEND")) {
    return `truncated PNG: no IEND chunk at the end of its ${bytes.length} bytes`;
  }
  return decoderMessage;
}
