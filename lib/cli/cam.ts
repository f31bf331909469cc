/**
 * `deno task cxr cam`: the heatmap of one finding (or the top one) over an X-ray, as a PNG.
 *
 * @module
 */
import { writeFile } from "node:fs/promises";
import { basename } from "node:path";
import {
  choiceOption,
  type Command,
  optionalString,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import {
  BACKENDS,
  ENGINES,
  loadBundle,
  openPredictor,
  predictorEngine,
  readBundleMetadata,
  selectBackend,
  tfjsPredictor,
} from "../model/mod.ts";
import { readBoundingBoxes } from "../nih/mod.ts";
import { explainImage, HEATMAP_METHODS } from "../eval/mod.ts";

/**
 * The `cam` command. With `--json` it prints
 * `{"image","out","class","probability","method","engine","boxes","probabilities":{"Atelectasis":p,...}}`.
 */
export const camCommand: Command = {
  name: "cam",
  summary:
    "Draw a finding's heatmap (CAM or Grad-CAM) over an X-ray as a PNG, NIH boxes optionally outlined.",
  details: "CAM: the last feature map weighted by the head's weights for the class (from the predictor, " +
    "either engine). Grad-CAM: gradients of the class score w.r.t. the last 4-D feature map (tfjs). " +
    "Without --class the finding with the highest probability is drawn. --boxes outlines the image's " +
    "boxes from BBox_List_2017.csv (plain or .gz).",
  options: {
    model: { valueName: "DIR", description: "The model bundle.", required: true },
    image: { valueName: "PNG", description: "The X-ray (PNG or JPEG).", required: true },
    out: { valueName: "PNG", description: "Where to write the overlay.", required: true },
    class: { valueName: "NAME", description: "Finding to explain.", defaultText: "the top one" },
    method: { valueName: "NAME", description: "cam or gradcam.", defaultText: "cam" },
    boxes: { valueName: "CSV", description: "BBox_List_2017.csv: outline this image's boxes." },
    engine: {
      valueName: "NAME",
      description: `auto, ${ENGINES.join(", ")} (cam only; gradcam runs on tfjs).`,
      defaultText: "auto",
    },
    backend: {
      valueName: "NAME",
      description: `tfjs backend: auto, ${BACKENDS.join(", ")}.`,
      defaultText: "auto",
    },
  },
  async run(values, ctx) {
    const modelDir = stringOption(values, "model");
    const image = stringOption(values, "image");
    const out = stringOption(values, "out");
    const method = choiceOption(values, "method", HEATMAP_METHODS, "cam");
    const engine = choiceOption(values, "engine", ["auto", ...ENGINES] as const, "auto");
    const className = optionalString(values, "class");
    const metadata = await readBundleMetadata(modelDir);
    if (className !== undefined && !metadata.classNames.includes(className)) {
      throw new UsageError(`--class must be one of: ${metadata.classNames.join(", ")}; got "${className}"`);
    }
    const backend = choiceOption(values, "backend", ["auto", ...BACKENDS] as const, "auto");
    if (method === "gradcam" || predictorEngine(modelDir, engine) === "tfjs") {
      ctx.err(`backend: ${(await selectBackend(backend)).name}`);
    }
    const boxes = typeof values.boxes === "string"
      ? readBoundingBoxes(values.boxes).boxes.filter((b) => b.image === basename(image))
      : [];
    let model;
    const predictor = method === "gradcam"
      ? tfjsPredictor(model = (await loadBundle(modelDir)).model, metadata)
      : await openPredictor(modelDir, { engine });
    try {
      const e = await explainImage(predictor, image, {
        method,
        boxes,
        ...withoutUndefined({ className, model }),
      });
      await writeFile(out, e.png);
      const summary = {
        image,
        out,
        class: e.className,
        probability: e.probability,
        method,
        engine: predictor.engine,
        boxes: boxes.length,
        probabilities: e.probabilities,
      };
      if (ctx.json) ctx.out(JSON.stringify(summary));
      else {
        ctx.out(`${e.className} ${e.probability.toFixed(4)} (${method}, ${predictor.engine}) -> ${out}`);
        if (boxes.length) {
          ctx.out(`outlined ${boxes.length} NIH box(es): ${boxes.map((b) => b.finding).join(", ")}`);
        }
      }
    } finally {
      await predictor.dispose();
    }
  },
};
