/**
 * One image through a {@link Predictor}: decode (PNG, JPEG or uncompressed DICOM, recognised by its `DICM`
 * magic whatever the Content-Type; any size, resized to the model's input), score, and on
 * request a class activation heatmap over the X-ray (downscaled to at most 512 px) as a base64 PNG.
 *
 * @module
 */
import sharp from "sharp";
import {
  DecodeError,
  decodeImage,
  DicomError,
  dicomToGrey,
  isDicom,
  parseDicom,
  RESIZE_KERNEL,
} from "../images/mod.ts";
import type { Predictor } from "../model/mod.ts";
import { camForClass, renderHeatmapPng } from "../eval/mod.ts";
import { encodeBase64, ScoreHttpError, type ScoreRequest, type ScoreResponseJson } from "./score_format.ts";

/** Options of {@linkcode scoreImage}. */
export interface ScoreImageOptions {
  /** Largest side of the heatmap PNG (the X-ray is downscaled, never enlarged). @default 512 */
  heatmapMaxSize?: number;
  /** Most pixels (width x height) an input image may declare. @default 50_000_000 */
  maxPixels?: number;
}

function _badImage(reason: string, cause?: unknown): ScoreHttpError {
  return new ScoreHttpError(400, "bad_image", `Cannot decode the image: ${reason}`, { cause });
}

/**
 * Scores one encoded image.
 *
 * @param predictor the model runner.
 * @param request the parsed request (image bytes, heatmap flag and class).
 * @param options heatmap size and pixel limit.
 * @returns the 200 response body.
 * @throws {ScoreHttpError} 400 `bad_image` with the decoder's reason for an undecodable, non-PNG/JPEG/DICOM or
 * oversized image (a compressed DICOM names its transfer syntax); 400 `bad_request` for an unknown heatmap class.
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
 * await predictor.dispose();
 * ```
 */
export async function scoreImage(
  predictor: Predictor,
  request: ScoreRequest,
  options: ScoreImageOptions = {},
): Promise<ScoreResponseJson> {
  const { classNames, inputSize, modelVersion, architecture } = predictor.metadata;
  const maxPixels = options.maxPixels ?? 50_000_000;
  let grey: { data: Uint8Array; width: number; height: number } | undefined;
  if (isDicom(request.image)) {
    try {
      grey = dicomToGrey(parseDicom(request.image));
    } catch (e) {
      throw e instanceof DicomError ? _badImage(e.message, e) : e;
    }
    if (grey.width * grey.height > maxPixels) {
      throw _badImage(
        `it is ${grey.width}x${grey.height} pixels, more than the limit of ${maxPixels} pixels`,
      );
    }
  } else {
    let meta: sharp.Metadata;
    try {
      meta = await sharp(request.image, { limitInputPixels: false }).metadata(); // header only
    } catch (e) {
      throw _badImage((e as Error).message, e);
    }
    if (meta.format !== "png" && meta.format !== "jpeg") {
      throw _badImage(`it is ${meta.format ?? "of an unknown format"}, not PNG, JPEG or DICOM`);
    }
    const { width = 0, height = 0 } = meta;
    if (width * height > maxPixels) {
      throw _badImage(`it is ${width}x${height} pixels, more than the limit of ${maxPixels} pixels`);
    }
  }
  const source = () =>
    grey
      ? sharp(grey.data, {
        raw: { width: grey.width, height: grey.height, channels: 1 },
        limitInputPixels: false,
      })
      : sharp(request.image);
  let pixels: Uint8Array;
  if (grey) {
    const { data, info } = await source()
      .resize(inputSize, inputSize, { fit: "fill", kernel: RESIZE_KERNEL })
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    pixels = new Uint8Array(inputSize * inputSize);
    for (let p = 0; p < pixels.length; p++) pixels[p] = data[p * info.channels];
  } else {
    try {
      pixels = await decodeImage(request.image, inputSize);
    } catch (e) {
      throw e instanceof DecodeError ? _badImage(e.reason, e) : e;
    }
  }
  const classIndex = request.className === undefined ? -1 : classNames.indexOf(request.className);
  if (request.className !== undefined && classIndex < 0) {
    throw new ScoreHttpError(
      400,
      "bad_request",
      `Unknown finding "${request.className}"; valid: ${classNames.join(", ")}`,
    );
  }
  const prediction = await predictor.predict(pixels, 1, { cam: request.heatmap });
  const probabilities: Record<string, number> = {};
  let top = 0;
  classNames.forEach((name, i) => {
    probabilities[name] = prediction.probabilities[i];
    if (prediction.probabilities[i] > prediction.probabilities[top]) top = i;
  });
  const name = typeof architecture?.name === "string" ? architecture.name : "densenet";
  const out: ScoreResponseJson = {
    model: { name, version: modelVersion },
    probabilities,
    top: { class: classNames[top], probability: prediction.probabilities[top] },
  };
  if (request.heatmap && prediction.cam) {
    const mapClass = classIndex >= 0 ? classIndex : top;
    const side = options.heatmapMaxSize ?? 512;
    const { data, info } = await source()
      .removeAlpha()
      .toColourspace("b-w")
      .resize(side, side, { fit: "inside", withoutEnlargement: true })
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    const grey = new Uint8Array(info.width * info.height);
    for (let p = 0; p < grey.length; p++) grey[p] = data[p * info.channels];
    const png = await renderHeatmapPng(
      { data: grey, width: info.width, height: info.height },
      camForClass(prediction.cam, 0, mapClass),
    );
    out.heatmap = encodeBase64(png);
    out.heatmapClass = classNames[mapClass];
  }
  return out;
}
