/**
 * One image through a {@link Predictor}: decode (PNG, JPEG or DICOM, compressed or not, recognised by its `DICM`
 * magic whatever the Content-Type; any size, resized to the model's input), score, and on
 * request a class activation heatmap over the X-ray (downscaled to at most 512 px) as a base64 PNG.
 *
 * The header is read before any pixel is decoded: an image over `maxPixels` or `maxDecodedBytes` is refused
 * with 400 `bad_image` naming the limit, so one request's decode memory is bounded by its header.
 *
 * @module
 */
import sharp from "sharp";
import {
  checkDecodeLimits,
  DecodeError,
  decodeImage,
  DicomError,
  dicomToGrey,
  inspectImage,
  isDicom,
  parseDicom,
  RESIZE_KERNEL,
  sniffImageFormat,
  unsupportedImageReason,
} from "../images/mod.ts";
import type { Predictor } from "../model/mod.ts";
import { camForClass, type GreyImage, readGreyImage, renderHeatmapPng } from "../eval/mod.ts";
import { base64 } from "../display.ts";
import { ScoreHttpError, type ScoreRequest, type ScoreResponseJson } from "./score_format.ts";

/** Options of {@linkcode scoreImage}. */
export interface ScoreImageOptions {
  /** Largest side of the heatmap PNG (the X-ray is downscaled, never enlarged). @default 512 */
  heatmapMaxSize?: number | undefined;
  /** Most pixels (width x height) an input image may declare. @default 50_000_000 */
  maxPixels?: number;
  /**
   * Most bytes an input image may decode to (width x height x channels x bytes per sample; an interlaced PNG
   * is decoded whole at that size). @default 64 MiB ({@linkcode DEFAULT_MAX_DECODED_BYTES})
   */
  maxDecodedBytes?: number | undefined;
}

/** Default of {@linkcode ScoreImageOptions.maxDecodedBytes}: 64 MiB (an 8-bit grey image at the 50-megapixel cap fits). */
export const DEFAULT_MAX_DECODED_BYTES = 64 * 1048576;

function badImage(reason: string, cause?: unknown): ScoreHttpError {
  return new ScoreHttpError(`Cannot decode the image: ${reason}`, 400, "bad_image", { cause });
}

/** Runs `f`, turning a decoder's refusal ({@linkcode DecodeError}, {@linkcode DicomError}) into 400 `bad_image`. */
async function decoding<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof DecodeError) throw badImage(e.reason, e);
    if (e instanceof DicomError) throw badImage(e.message, e);
    throw e;
  }
}

/**
 * Scores one encoded image.
 *
 * @param request the parsed request (image bytes, heatmap flag and class).
 * @returns the 200 response body.
 * @throws {ScoreHttpError} 400 `bad_image` with the decoder's reason for an undecodable, non-PNG/JPEG/DICOM or
 * oversized image (a compressed DICOM names its transfer syntax; an image over a limit names the limit, from
 * its header alone); 400 `bad_request` for an unknown heatmap class.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * import { createDenseNet, openPredictor, saveBundle, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync();
 * await saveBundle(createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 }), dir, { modelVersion: "v1" });
 * const predictor = await openPredictor(dir, { engine: "tfjs" });
 * const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 90, g: 90, b: 90 } } }).png().toBuffer();
 * const out = await scoreImage(predictor, { image: png, heatmap: true, className: "Mass" });
 * assert.equal(Object.keys(out.probabilities).length, 14);
 * assert.equal(out.heatmapClass, "Mass");
 * assert.deepEqual((await sharp(Uint8Array.fromBase64(out.heatmap!)).metadata()).width, 40);
 * await assert.rejects(scoreImage(predictor, { image: png.subarray(0, 50), heatmap: false }), /Cannot decode/);
 * await assert.rejects(scoreImage(predictor, { image: png, heatmap: false }, { maxDecodedBytes: 1000 }),
 *   /40x30 pixels, 3 channels of 8 bits: 3600 bytes \(0\.0 MiB\) decoded, more than the limit of 1000 bytes/);
 * await predictor.dispose();
 * ```
 */
export async function scoreImage(
  predictor: Predictor,
  request: ScoreRequest,
  options: ScoreImageOptions = {},
): Promise<ScoreResponseJson> {
  const { classNames, inputSize, modelVersion, architecture } = predictor.metadata;
  const limits = {
    maxPixels: options.maxPixels ?? 50_000_000,
    maxDecodedBytes: options.maxDecodedBytes ?? DEFAULT_MAX_DECODED_BYTES,
  };
  let grey: GreyImage | undefined;
  if (isDicom(request.image)) {
    // the limits are checked from the DICOM header, before decoding
    grey = await decoding(async () => dicomToGrey(await parseDicom(request.image, limits)));
  } else {
    // Only PNG and JPEG reach sharp, by their magic bytes: an SVG or other format sharp could read is refused
    // here, before any decoder sees it (lib/images/sniff.ts, the rule preprocess applies too).
    if (sniffImageFormat(request.image) === undefined) throw badImage(unsupportedImageReason(request.image));
    const info = await decoding(() => inspectImage(request.image));
    if (info.format !== "png" && info.format !== "jpeg") {
      throw badImage(
        `it is ${info.format === "unknown" ? "of an unknown format" : info.format}, not PNG, JPEG or DICOM`,
      );
    }
    await decoding(() => checkDecodeLimits(info, limits));
  }
  const source = () =>
    grey
      ? sharp(grey.data, {
        raw: { width: grey.width, height: grey.height, channels: 1 },
        limitInputPixels: false,
      })
      : sharp(request.image, { limitInputPixels: limits.maxPixels });
  const pixels = grey
    ? (await readGreyImage(source().resize(inputSize, inputSize, { fit: "fill", kernel: RESIZE_KERNEL })))
      .data
    : await decoding(() => decodeImage(request.image, inputSize, { maxPixels: limits.maxPixels }));
  const classIndex = request.className === undefined ? -1 : classNames.indexOf(request.className);
  if (request.className !== undefined && classIndex < 0) {
    throw new ScoreHttpError(
      `Unknown finding "${request.className}"; valid: ${classNames.join(", ")}`,
      400,
      "bad_request",
    );
  }
  const prediction = await predictor.predict(pixels, 1, { cam: request.heatmap });
  const probabilities: Record<string, number> = {};
  // One probability per class name: the bundle's outputs and class names are checked to match when it opens.
  const p = (i: number) => prediction.probabilities[i]!;
  let top = 0;
  classNames.forEach((name, i) => {
    probabilities[name] = p(i);
    if (p(i) > p(top)) top = i;
  });
  const name = typeof architecture?.name === "string" ? architecture.name : "densenet";
  const out: ScoreResponseJson = {
    model: { name, version: modelVersion },
    probabilities,
    top: { class: classNames[top]!, probability: p(top) },
  };
  if (request.heatmap && prediction.cam) {
    const mapClass = classIndex >= 0 ? classIndex : top;
    const side = options.heatmapMaxSize ?? 512;
    const fit = { fit: "inside", withoutEnlargement: true } as const;
    const xray = await readGreyImage(source().resize(side, side, fit));
    const png = await renderHeatmapPng(xray, camForClass(prediction.cam, 0, mapClass));
    out.heatmap = base64(png);
    out.heatmapClass = classNames[mapClass]!; // an index of classNames, or top
  }
  return out;
}
