/**
 * A gallery of heatmaps for notebooks and reports: for images that have NIH boxes, the heatmap of the boxed
 * finding over the X-ray, once plain and once with the boxes outlined, as thumbnails in one HTML table.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { base64, escapeHtml, htmlTable, JUPYTER_DISPLAY } from "../display.ts";
import type { BoundingBox } from "../nih/mod.ts";
import type { Predictor } from "../model/mod.ts";
import { explainImage, type ExplainOptions } from "./explain.ts";
import { readGreyImage, renderHeatmapPng } from "./heatmap.ts";

/** One gallery row. */
export interface GalleryItem {
  /** Image name. */
  image: string;
  /** The finding drawn (the first box's). */
  finding: string;
  /** The model's probability for it. */
  probability: number;
  /** Boxes of that finding on the image. */
  boxes: number;
  /** Thumbnail PNG without boxes. */
  plain: Uint8Array;
  /** Thumbnail PNG with the boxes outlined. */
  boxed: Uint8Array;
}

/** Options of {@linkcode heatmapGallery}. */
export interface HeatmapGalleryOptions extends Pick<ExplainOptions, "method" | "model" | "scale"> {
  /** Images to show. @default 4 */
  count?: number;
  /** Thumbnail side in pixels. @default 256 */
  thumb?: number;
}

/** The gallery; in Jupyter an HTML table of thumbnails. */
export class HeatmapGallery {
  constructor(readonly items: GalleryItem[]) {}
  /** Jupyter: HTML with the thumbnails inline. */
  [JUPYTER_DISPLAY](): { "text/html": string; "text/plain": string } {
    const img = (alt: string, png: Uint8Array) => ({
      html: `<img alt="${alt}" src="data:image/png;base64,${base64(png)}">`,
    });
    const rows = this.items.map((it) => [
      { html: `${escapeHtml(it.image)}<br>${escapeHtml(it.finding)} ${it.probability.toFixed(3)}` },
      img("heatmap", it.plain),
      img("heatmap with NIH boxes", it.boxed),
    ]);
    return {
      "text/html": htmlTable(["image", "heatmap", "with NIH boxes"], rows, { className: "cxr-heatmaps" }),
      "text/plain": this.items.map((it) => `${it.image} ${it.finding} ${it.probability.toFixed(3)}`)
        .join("\n"),
    };
  }
}

/**
 * Heatmaps of the first `count` images (in box-file order) that have boxes and a file in `imagesDir`.
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
 * const gallery = await heatmapGallery(predictor, dir, boxes, { thumb: 32 });
 * assert.deepEqual(gallery.items.map((i) => [i.image, i.finding, i.boxes]), [["00000001_000.png", "Mass", 1]]);
 * await predictor.dispose();
 * ```
 */
export async function heatmapGallery(
  predictor: Predictor,
  imagesDir: string,
  boxes: readonly BoundingBox[],
  options: HeatmapGalleryOptions = {},
): Promise<HeatmapGallery> {
  const count = options.count ?? 4;
  const thumb = options.thumb ?? 256;
  const chosen: BoundingBox[] = [];
  for (const b of boxes) {
    if (chosen.length >= count) break;
    if (!chosen.some((c) => c.image === b.image) && existsSync(join(imagesDir, b.image))) chosen.push(b);
  }
  const small = async (png: Uint8Array) =>
    new Uint8Array(await sharp(png).resize(thumb, thumb, { fit: "inside" }).png().toBuffer());
  const items: GalleryItem[] = [];
  for (const first of chosen) {
    const path = join(imagesDir, first.image);
    const same = boxes.filter((b) => b.image === first.image && b.finding === first.finding);
    const e = await explainImage(predictor, path, { ...options, className: first.finding });
    const boxed = await renderHeatmapPng(await readGreyImage(path), e.map, {
      boxes: same,
      scale: options.scale,
    });
    items.push({
      image: first.image,
      finding: first.finding,
      probability: e.probability,
      boxes: same.length,
      plain: await small(e.png),
      boxed: await small(boxed),
    });
  }
  return new HeatmapGallery(items);
}
