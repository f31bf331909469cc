/**
 * The model card every bundle carries (`MODEL_CARD.md`, after Mitchell et al., "Model Cards for Model
 * Reporting", 2019): what the model is, what it was started from and trained on, how well it did, and what
 * it must not be used for — written from the bundle's metadata so it never disagrees with it.
 *
 * @module
 */
import type { BundleMetadata } from "./bundle_format.ts";

/** The model card's file name inside a bundle. */
export const MODEL_CARD_MD = "MODEL_CARD.md";

function _fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

function _weights(meta: BundleMetadata): string[] {
  const w = meta.weights;
  if (!w) return ["- Starting weights: not recorded (bundle written before provenance was kept)."];
  const start = {
    imagenet:
      "ImageNet (Keras Applications' DenseNet-121 `include_top=False` weights); the head started fresh",
    none: "random initialisation",
    file: "a Keras HDF5 weights file",
    keras: "an imported Keras model (no training here)",
  }[w.init];
  const lines = [`- Starting weights: ${start}.`];
  if (w.file) lines.push(`- Weights file: \`${w.file}\`${w.md5 ? `, md5 \`${w.md5}\`` : ""}.`);
  if (w.url) lines.push(`- Downloaded from: ${w.url}`);
  if (w.loaded !== undefined) lines.push(`- Weights loaded from it: ${w.loaded}.`);
  if (w.missing?.length) lines.push(`- Not in the file (left as initialised): ${w.missing.join(", ")}.`);
  if (w.freeze && w.freeze !== "none") {
    lines.push(
      w.freeze === "backbone"
        ? "- Frozen: the whole backbone; only the `predictions` head was trained."
        : `- Frozen: every layer before \`${w.freeze}\`.`,
    );
  }
  return lines;
}

/**
 * Renders the model card of a bundle as Markdown.
 *
 * @param meta the bundle's metadata.
 * @returns the card's text.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const card = modelCard({
 *   formatVersion: 1, classNames: ["Atelectasis", "Mass"], inputSize: 224, channels: 1, normalization: null,
 *   modelVersion: "densenet121-epoch-003", createdAt: "2026-12-05T00:00:00.000Z",
 *   architecture: { name: "densenet121", inputSize: 224 }, metrics: { mean_auroc: 0.81 }, splitDigest: null,
 *   weights: { init: "imagenet", file: "notop.h5", md5: "4912a53fbd2a69346e7f2c0b5ec8c6d3", freeze: "none" },
 * });
 * assert.match(card, /^# Model card: densenet121-epoch-003/);
 * assert.match(card, /md5 `4912a53fbd2a69346e7f2c0b5ec8c6d3`/);
 * assert.match(card, /\| mean_auroc \| 0\.8100 \|/);
 * ```
 */
export function modelCard(meta: BundleMetadata): string {
  const n = meta.normalization;
  const input = n
    ? `${meta.inputSize}×${meta.inputSize} raw pixels (${meta.channels} channel${
      meta.channels > 1 ? "s" : ""
    }), ` +
      `normalised inside the model: (pixel / ${n.inputScale} − mean [${n.mean.join(", ")}]) / std [${
        n.std.join(", ")
      }]`
    : `${meta.inputSize}×${meta.inputSize} pixels, ${meta.channels} channel(s), no normalisation in the model`;
  const metrics = Object.entries(meta.metrics);
  return [
    `# Model card: ${meta.modelVersion}`,
    "",
    "## Model",
    "",
    `- Architecture: ${String(meta.architecture.name ?? "unnamed")} (${JSON.stringify(meta.architecture)}).`,
    `- Input: ${input}.`,
    `- Outputs: ${meta.classNames.length} independent sigmoid probabilities, in this order: ${
      meta.classNames.join(", ")
    }.`,
    `- Written: ${meta.createdAt}.`,
    "",
    "## Weights and training data",
    "",
    ..._weights(meta),
    `- Data split digest: ${meta.splitDigest ? `\`${meta.splitDigest}\`` : "not recorded"}.`,
    "",
    "## Metrics",
    "",
    ...(metrics.length
      ? ["| metric | value |", "| --- | --- |", ...metrics.map(([k, v]) => `| ${k} | ${_fmt(v)} |`)]
      : ["No metrics recorded (e.g. an imported model: run `cxr evaluate`)."]),
    "",
    "## Intended use and limits",
    "",
    "- For research and for building and testing chest X-ray tooling; not a medical device, not for diagnosis.",
    "- NIH ChestX-ray14, the data this workflow trains on, has labels mined from radiology reports by text",
    "  processing (estimated above 90 % accurate, not read by radiologists) on frontal views of one hospital's",
    "  patients. Expect lower performance on other hospitals, devices, lateral views and children.",
    "- Probabilities are per finding and not calibrated across sites; pick thresholds on local validation data.",
    "- Heatmaps (CAM) show where the model looked, not where a finding is; do not use them to localise disease.",
    "",
  ].join("\n");
}
