/**
 * Decoding NIH PNGs into square grey pixel arrays with `sharp` (libvips): grey and RGBA input (about 1 % of
 * the NIH images are RGBA with equal colour channels) become one channel; the image is resized to S×S with
 * libvips' Lanczos-3 kernel (`fit: "fill"`; NIH images are square, so nothing is stretched).
 *
 * What a decode costs is known from the header before any pixel is decoded ({@linkcode inspectImage}):
 * width × height × channels × bytes per sample. An interlaced (Adam7) PNG or a progressive JPEG is decoded
 * whole into memory at that size, so a 381 KB interlaced 7000×7000 16-bit RGBA PNG costs 392 MB; limits
 * ({@linkcode checkDecodeLimits}) refuse such an image from its header, naming the limit.
 *
 * @module
 */
import sharp from "sharp";
import { ImagesError } from "./errors.ts";
import { sniffImageFormat } from "./sniff.ts";

/** The resampling kernel used by {@linkcode decodeImage}. */
export const RESIZE_KERNEL = "lanczos3";

/** An image that could not be read or decoded; `reason` is the decoder's own message. */
export class DecodeError extends ImagesError {
  /**
   * @param reason The decoder's message, e.g. `pngload: libspng read error`; the message says
   * `Cannot decode image "<source>": <reason>`.
   * @param source The file (or `"<buffer>"`).
   * @param options `cause`: the decoder's error.
   */
  constructor(readonly reason: string, readonly source: string, options?: ErrorOptions) {
    super(`Cannot decode image "${source}": ${reason}`, options);
  }
}

/** What an image's header says, and what decoding it costs. */
export interface ImageHeader {
  /** The format sharp recognised (`png`, `jpeg`, `gif`...). */
  format: string;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Channels decoded (a palette PNG decodes to 3 or 4). */
  channels: number;
  /** Bits per sample of the decoded pixels (8 or 16 for PNG). */
  bitsPerSample: number;
  /** Interlaced PNG or progressive JPEG: decoded whole into memory, never line by line. */
  interlaced: boolean;
  /** Bytes of the decoded pixels: width × height × channels × bytes per sample. */
  decodedBytes: number;
}

/** Limits of {@linkcode checkDecodeLimits} and {@linkcode decodeImage}. */
export interface DecodeLimits {
  /** Most pixels (width × height); sharp refuses more at decode too (`limitInputPixels`). */
  maxPixels?: number;
  /** Most bytes of decoded pixels (width × height × channels × bytes per sample). */
  maxDecodedBytes?: number;
}

/** Options of {@linkcode decodeImage}. */
export interface DecodeOptions extends DecodeLimits {
  /** Where to write the S×S pixels (length S*S); a new array when absent. */
  into?: Uint8Array;
}

const SAMPLE_BYTES: Record<string, number> = {
  uchar: 1,
  char: 1,
  ushort: 2,
  short: 2,
  uint: 4,
  int: 4,
  float: 4,
  complex: 8,
  double: 8,
  dpcomplex: 16,
};

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 1 : 0)} MiB`;
}

/**
 * Reads an image's header (no pixel is decoded) and what decoding it costs.
 *
 * @param input A file path or the encoded bytes.
 * @returns Format, size, channels, bits per sample, interlacing and decoded bytes.
 * @throws {DecodeError} If the file is missing or its header is not an image sharp reads.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * const png = await sharp({ create: { width: 30, height: 20, channels: 4, background: "#808080" } })
 *   .toColourspace("rgb16").png({ progressive: true }).toBuffer();
 * const info = await inspectImage(png);
 * assert.deepEqual(info, {
 *   format: "png", width: 30, height: 20, channels: 4, bitsPerSample: 16, interlaced: true, decodedBytes: 4800,
 * });
 * ```
 */
export async function inspectImage(input: string | Uint8Array): Promise<ImageHeader> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(input, { limitInputPixels: false }).metadata(); // header only
  } catch (e) {
    throw new DecodeError((e as Error).message, typeof input === "string" ? input : "<buffer>", { cause: e });
  }
  const { width = 0, height = 0, channels = 1 } = meta;
  const bitsPerSample = 8 * (SAMPLE_BYTES[meta.depth ?? "uchar"] ?? 1);
  return {
    format: meta.format ?? "unknown",
    width,
    height,
    channels,
    bitsPerSample,
    interlaced: meta.isProgressive === true,
    decodedBytes: width * height * channels * (bitsPerSample / 8),
  };
}

/**
 * Refuses an image whose header asks for more than the limits, before anything is decoded.
 *
 * @param info What {@linkcode inspectImage} read.
 * @param limits Most pixels and most decoded bytes; an absent limit is not checked.
 * @param source The file (or `"<buffer>"`) for the error.
 * @throws {DecodeError} Whose `reason` gives the size, channels, bits, interlacing and the limit passed.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const info = { format: "png", width: 7000, height: 7000, channels: 4, bitsPerSample: 16, interlaced: true,
 *   decodedBytes: 392_000_000 };
 * assert.throws(() => checkDecodeLimits(info, { maxDecodedBytes: 64 * 1048576 }),
 *   /7000x7000 pixels, 4 channels of 16 bits, interlaced: 392000000 bytes \(374 MiB\) decoded, more than the limit of 67108864 bytes \(64 MiB\)/);
 * checkDecodeLimits({ ...info, width: 1024, height: 1024, channels: 1, bitsPerSample: 8, decodedBytes: 1048576 },
 *   { maxDecodedBytes: 64 * 1048576, maxPixels: 50_000_000 });
 * ```
 */
export function checkDecodeLimits(info: ImageHeader, limits: DecodeLimits, source = "<buffer>"): void {
  const { width, height, channels, bitsPerSample, interlaced, decodedBytes } = info;
  if (limits.maxPixels !== undefined && width * height > limits.maxPixels) {
    throw new DecodeError(
      `it is ${width}x${height} pixels, more than the limit of ${limits.maxPixels} pixels`,
      source,
    );
  }
  if (limits.maxDecodedBytes !== undefined && decodedBytes > limits.maxDecodedBytes) {
    const max = limits.maxDecodedBytes;
    const samples = `${channels} channel${channels === 1 ? "" : "s"} of ${bitsPerSample} bits`;
    const layout = `${width}x${height} pixels, ${samples}${interlaced ? ", interlaced" : ""}`;
    const reason =
      `it is ${layout}: ${decodedBytes} bytes (${mib(decodedBytes)}) decoded, more than the limit ` +
      `of ${max} bytes (${mib(max)})`;
    throw new DecodeError(reason, source);
  }
}

/**
 * Decodes a PNG (or any format sharp reads) to S×S 8-bit grey pixels, row-major.
 *
 * With `maxDecodedBytes` the header is read first and an image over the limit is refused before any pixel
 * is decoded; `maxPixels` is also passed to sharp (`limitInputPixels`, sharp's own default otherwise).
 *
 * @param input A file path or the encoded bytes.
 * @param size Side S of the output square (1..16384).
 * @param options Where to write the pixels, and decode limits.
 * @returns The pixels (`options.into` when given).
 * @throws {RangeError} If `size` is not an integer in range or `into` has the wrong length.
 * @throws {DecodeError} If the file is missing, truncated, not an image, or over a limit (the reason says
 * which and by how much).
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
 * await assert.rejects(decodeImage(rgba, 4, { maxDecodedBytes: 100 }), /8x8 pixels, 4 channels of 8 bits: 256 bytes/);
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
  if (options.maxDecodedBytes !== undefined || options.maxPixels !== undefined) {
    checkDecodeLimits(await inspectImage(input), options, source);
  }
  let data: Uint8Array, channels: number;
  try {
    const limit = options.maxPixels === undefined ? {} : { limitInputPixels: options.maxPixels };
    const out = await sharp(input, limit)
      .removeAlpha()
      .toColourspace("b-w")
      .resize(size, size, { fit: "fill", kernel: RESIZE_KERNEL })
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    data = out.data;
    channels = out.info.channels;
  } catch (e) {
    throw new DecodeError(await diagnose(input, (e as Error).message), source, { cause: e });
  }
  const target = options.into ?? new Uint8Array(size * size);
  if (channels === 1) {
    target.set(data.subarray(0, size * size));
  } else {
    for (let i = 0; i < size * size; i++) target[i] = data[i * channels]!;
  }
  return target;
}

/**
 * A stable reason for a failed decode. libvips words the same truncated PNG differently from run to run
 * ("pngload: end of stream", "Warning treated as error due to failOn setting"), so a PNG that lacks its
 * closing IEND chunk is reported as truncated in one fixed wording; anything else keeps the decoder's message.
 */
async function diagnose(input: string | Uint8Array, decoderMessage: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = typeof input === "string" ? await Deno.readFile(input) : input;
  } catch {
    return decoderMessage; // missing or unreadable: the decoder said so already
  }
  const tail = new TextDecoder("latin1").decode(bytes.subarray(Math.max(0, bytes.length - 12)));
  if (sniffImageFormat(bytes) === "png" && !tail.includes("IEND")) {
    return `truncated PNG: no IEND chunk at the end of its ${bytes.length} bytes`;
  }
  return decoderMessage;
}
