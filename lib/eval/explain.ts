/**
 * Heatmaps of whole images through a {@linkcode Predictor}: the class activation map (from the predictor's
 * `cam` output) or Grad-CAM (any tfjs model), drawn over the original X-ray; and localisation accuracy of those
 * maps against NIH's boxes over a folder of images.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { decodeImage } from "../images/mod.ts";
import type { Predictor, tfl } from "../model/mod.ts";
import { base64, htmlTable, JUPYTER_DISPLAY } from "../display.ts";
import type { BoundingBox } from "../nih/mod.ts";
import { NoActivationMapError } from "./errors.ts";
import { gradCam } from "./gradcam.ts";
import {
  camForClass,
  type GreyImage,
  type HeatMap,
  type HeatmapBox,
  type HeatmapScale,
  readGreyImage,
  renderHeatmapPng,
  upsampleHeatmap,
} from "./heatmap.ts";
import {
  IOBB_THRESHOLDS,
  localizationAccuracy,
  type LocalizationResult,
  type LocalizationTable,
  localize,
  type LocalizeOptions,
} from "./localization.ts";

/** Heatmap methods. */
export const HEATMAP_METHODS = ["cam", "gradcam"] as const;
/** One heatmap method. */
export type HeatmapMethod = typeof HEATMAP_METHODS[number];

/** Options of {@linkcode explainImage}. */
export interface ExplainOptions {
  /** Finding to explain. @default the one with the highest probability */
  className?: string;
  /** `"cam"` (from the predictor) or `"gradcam"` (needs `model`). @default "cam" */
  method?: HeatmapMethod;
  /** The tfjs model behind the predictor, for Grad-CAM. */
  model?: tfl.LayersModel;
  /** Boxes to outline, in the image's pixels. */
  boxes?: readonly HeatmapBox[] | undefined;
  /** Overlay weight 0..1. @default 0.45 */
  alpha?: number | undefined;
  /** How the map is scaled for colouring (and thresholding): see `HEATMAP_SCALES`. @default "max" */
  scale?: HeatmapScale | undefined;
}

/** One explained image; in Jupyter it shows the overlay with its finding and probability. */
export class Explanation {
  /** The finding explained. */
  declare readonly className: string;
  /** Its probability. */
  declare readonly probability: number;
  /** All probabilities by finding. */
  declare readonly probabilities: Record<string, number>;
  /** How the map was made. */
  declare readonly method: HeatmapMethod;
  /** The map at the model's feature resolution. */
  declare readonly map: HeatMap;
  /** The overlay PNG at the original image's size. */
  declare readonly png: Uint8Array;
  /** Shown with the picture, e.g. the file name. */
  declare readonly title: string;
  constructor(fields: Omit<Explanation, typeof JUPYTER_DISPLAY>) {
    Object.assign(this, fields);
  }
  /** Jupyter: the PNG and a caption. */
  [JUPYTER_DISPLAY](): { "image/png": string; "text/plain": string } {
    const caption = `${this.title}: ${this.className} ${this.probability.toFixed(3)} (${this.method})`;
    return { "image/png": base64(this.png), "text/plain": caption };
  }
}

/** Picks the class index by name (or the top one), with a message listing the valid names. */
function pickClass(names: readonly string[], probabilities: ArrayLike<number>, className?: string): number {
  if (className === undefined) {
    let best = 0;
    for (let k = 1; k < names.length; k++) if (probabilities[k]! > probabilities[best]!) best = k;
    return best;
  }
  const k = names.indexOf(className);
  if (k < 0) throw new RangeError(`Unknown class "${className}"; valid classes: ${names.join(", ")}`);
  return k;
}

async function heatmapOf(
  predictor: Predictor,
  pixels: Uint8Array,
  options: ExplainOptions,
): Promise<{ map: HeatMap; k: number; probabilities: Float32Array }> {
  const method = options.method ?? "cam";
  const names = predictor.metadata.classNames;
  if (method === "gradcam") {
    if (!options.model) {
      throw new TypeError('explainImage: method "gradcam" needs options.model (the tfjs model)');
    }
    const top = await gradCam(options.model, pixels, {});
    const k = pickClass(names, top.scores, options.className);
    const r = k === top.classIndex ? top : await gradCam(options.model, pixels, { classIndex: k });
    return { map: r.map, k, probabilities: r.scores };
  }
  const { probabilities, cam } = await predictor.predict(pixels, 1, { cam: true });
  if (!cam) {
    throw new NoActivationMapError(
      `The ${predictor.engine} predictor of model ${predictor.metadata.modelVersion} gives no class activation maps; use method "gradcam"`,
    );
  }
  const k = pickClass(names, probabilities, options.className);
  return { map: camForClass(cam, 0, k), k, probabilities };
}

/**
 * Scores one image and draws the heatmap of one finding over it.
 *
 * @param image A PNG/JPEG file path or its bytes (any size; resized to the model's input like the cache).
 * @throws {RangeError} If `className` is not one of the model's classes (the message lists them).
 * @throws {NoActivationMapError} If method "cam" is asked of a predictor without maps.
 * @throws {DecodeError} If the image cannot be decoded.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * import { createDenseNet, openPredictor, saveBundle, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync();
 * await saveBundle(createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 }), `${dir}/model`);
 * const predictor = await openPredictor(`${dir}/model`, { engine: "tfjs" });
 * await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 99, g: 99, b: 99 } } })
 *   .png().toFile(`${dir}/00000001_000.png`);
 * const e = await explainImage(predictor, `${dir}/00000001_000.png`, { className: "Mass" });
 * assert.equal(e.className, "Mass");
 * assert.equal((await sharp(e.png).metadata()).width, 64);
 * await predictor.dispose();
 * ```
 */
export async function explainImage(
  predictor: Predictor,
  image: string | Uint8Array,
  options: ExplainOptions = {},
): Promise<Explanation> {
  const original: GreyImage = await readGreyImage(image);
  const pixels = await decodeImage(image, predictor.metadata.inputSize);
  const { map, k, probabilities } = await heatmapOf(predictor, pixels, options);
  const names = predictor.metadata.classNames;
  const png = await renderHeatmapPng(original, map, options); // its boxes, alpha and scale
  const className = names[k], probability = probabilities[k];
  if (className === undefined || probability === undefined) {
    throw new RangeError(
      `explainImage: the model gives ${probabilities.length} probabilities for ${names.length} classes`,
    );
  }
  return new Explanation({
    className,
    probability,
    probabilities: Object.fromEntries(names.map((n, i) => [n, probabilities[i] ?? NaN])),
    method: options.method ?? "cam",
    map,
    png,
    title: typeof image === "string" ? basename(image) : "image",
  });
}

/** Localisation over a folder; in Jupyter it shows the accuracy table. */
export class LocalizationReport {
  constructor(readonly results: LocalizationResult[], readonly table: LocalizationTable) {}
  /** Jupyter: an HTML table of accuracy per finding at each IoBB threshold, and the share of peaks in boxes. */
  [JUPYTER_DISPLAY](): { "text/html": string; "text/plain": string } {
    const t = this.table;
    const head = ["finding", "boxes", ...t.thresholds.map((x) => `T=${x}`), "peak in box"];
    const rows = Object.entries(t.perFinding).map((
      [f, r],
    ) => [f, String(r.boxes), ...r.accuracy.map((a) => a.toFixed(2)), r.peakInside.toFixed(2)]);
    return {
      "text/html": htmlTable(head, rows, { className: "cxr-localization" }),
      "text/plain": [head, ...rows].map((r) => r.join("\t")).join("\n"),
    };
  }
}

/** Options of {@linkcode localizeImages}: {@linkcode localize}'s and the heatmap method. */
export interface LocalizeImagesOptions extends LocalizeOptions, Pick<ExplainOptions, "method" | "model"> {
  /** Called after each image. */
  onProgress?: (event: { type: "image"; done: number; total: number; image: string }) => void;
}

/**
 * For every box whose image is in `imagesDir`, the heatmap of the box's finding at the image's size checked
 * against the box (see {@linkcode localize}); images without a file are skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import sharp from "sharp";
 * import { createDenseNet, openPredictor, saveBundle, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync();
 * await saveBundle(createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 }), `${dir}/model`);
 * const predictor = await openPredictor(`${dir}/model`, { engine: "tfjs" });
 * await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 99, g: 99, b: 99 } } })
 *   .png().toFile(`${dir}/00000001_000.png`);
 * const boxes = [{ image: "00000001_000.png", patientId: 1, finding: "Mass" as const, x: 8, y: 8, w: 20, h: 20 }];
 * const report = await localizeImages(predictor, dir, boxes, { thresholds: [0.1, 0.5] });
 * assert.equal(report.table.perFinding.Mass?.boxes, 1);
 * await predictor.dispose();
 * ```
 */
export async function localizeImages(
  predictor: Predictor,
  imagesDir: string,
  boxes: readonly BoundingBox[],
  options: LocalizeImagesOptions = {},
): Promise<LocalizationReport> {
  const thresholds = options.thresholds ?? IOBB_THRESHOLDS;
  const byImage = new Map<string, BoundingBox[]>();
  for (const b of boxes) {
    if (existsSync(join(imagesDir, b.image))) byImage.set(b.image, [...(byImage.get(b.image) ?? []), b]);
  }
  const results: LocalizationResult[] = [];
  let done = 0;
  for (const [image, list] of byImage) {
    const path = join(imagesDir, image);
    const original = await readGreyImage(path);
    const pixels = await decodeImage(path, predictor.metadata.inputSize);
    for (const box of list) {
      const { map } = await heatmapOf(predictor, pixels, { ...options, className: box.finding });
      results.push(
        localize(upsampleHeatmap(map, original.width, original.height), box, { ...options, thresholds }),
      );
    }
    options.onProgress?.({ type: "image", done: ++done, total: byImage.size, image });
  }
  return new LocalizationReport(results, localizationAccuracy(results, thresholds));
}
