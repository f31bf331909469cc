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

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

function weightsSection(meta: BundleMetadata): string[] {
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

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

function dataSection(meta: BundleMetadata): string[] {
  const t = meta.training;
  const digest = meta.splitDigest ? `digest \`${meta.splitDigest}\`` : "digest not recorded";
  if (!t) {
    return [
      `- Source: ${meta.weights?.init === "keras" ? "not known (an imported model)" : "not recorded"}.`,
      `- Split: ${digest}.`,
    ];
  }
  return [
    `- Source: ${t.source ?? "not recorded"}.`,
    `- Split: ${t.splitMethod ? `method \`${t.splitMethod}\`, ` : "method not recorded, "}${digest}.`,
    `- Images: ${t.images.train} training, ${t.images.val} validation.`,
  ];
}

function trainingSection(meta: BundleMetadata): string[] {
  const t = meta.training;
  const lines = weightsSection(meta);
  if (!t) {
    lines.push(
      meta.weights?.init === "keras"
        ? "- Training: none here; the weights were imported as they were."
        : "- Training: not recorded (bundle written before it was kept).",
    );
    return lines;
  }
  lines.push(
    `- Epochs: ${t.epochs}; batch ${t.batchSize} images per step${
      t.microBatch < t.batchSize ? ` (gradients accumulated over passes of ${t.microBatch})` : ""
    }.`,
    `- Backend: ${t.backend}; time: ${duration(t.seconds)} (training and validation up to these weights).`,
  );
  const more = [
    t.lr === undefined ? "" : `initial learning rate ${t.lr}`,
    t.seed === undefined ? "" : `seed ${t.seed}`,
    t.weightedLoss === undefined ? "" : `loss ${t.weightedLoss ? "weighted per class" : "unweighted"}`,
  ].filter(Boolean);
  if (more.length) lines.push(`- Settings: ${more.join(", ")}.`);
  return lines;
}

function formatAuroc(v: number | null | undefined): string {
  return v === null || v === undefined ? "—" : v.toFixed(3);
}

function formatCi(ci: [number, number] | null): string {
  return ci ? `${ci[0].toFixed(3)}–${ci[1].toFixed(3)}` : "—";
}

function evaluationSection(meta: BundleMetadata): string[] {
  const e = meta.evaluation;
  if (!e) {
    return [
      "No evaluation recorded: `deno task cxr evaluate --model <bundle> --cache <cache> --record` adds per-class",
      "AUROC with bootstrap intervals on a held-out partition, beside CheXNet's published values.",
    ];
  }
  const ref = e.reference;
  const pct = Math.round(e.bootstrap.confidence * 100);
  const ciHead = e.bootstrap.resamples > 0 ? `${pct} % CI` : "CI (none run)";
  const head = `| finding | AUROC | ${ciHead} | positives | negatives |${ref ? ` ${ref.name} |` : ""}`;
  const rows = Object.entries(e.classes).map(([name, c]) =>
    `| ${name} | ${formatAuroc(c.auroc)} | ${formatCi(c.ci)} | ${c.positives} | ${c.negatives} |${
      ref ? ` ${formatAuroc(ref.perClass[name])} |` : ""
    }`
  );
  // The reference's mean over the same findings as this model's mean, so the two compare.
  const refs = ref
    ? Object.entries(e.classes).flatMap(([k, c]) => {
      const r = ref.perClass[k];
      return c.auroc !== null && r !== undefined ? [r] : [];
    })
    : [];
  const refMean = refs.length ? refs.reduce((a, b) => a + b, 0) / refs.length : null;
  const split = !e.splitDigest
    ? ""
    : e.splitDigest === meta.splitDigest
    ? " Same split as training (digest matches), so these images were not trained on."
    : ` Split digest \`${e.splitDigest}\`, not the training split's: check these images were not trained on.`;
  return [
    `Partition \`${e.partition}\`, ${e.images} images, scored with ${e.engine ?? "an unrecorded engine"}; ` +
    `recorded ${e.recordedAt}.${split}` +
    (e.bootstrap.resamples > 0
      ? ` Intervals: percentile bootstrap over images, ${e.bootstrap.resamples} resamples, seed ${e.bootstrap.seed}.`
      : ""),
    "",
    head,
    `| --- | --- | --- | --- | --- |${ref ? " --- |" : ""}`,
    ...rows,
    `| mean (${e.mean.classes} findings) | ${formatAuroc(e.mean.auroc)} | ${formatCi(e.mean.ci)} | | |${
      ref ? ` ${formatAuroc(refMean)} |` : ""
    }`,
    "",
    ...(ref ? [`${ref.name}: ${ref.source}${ref.note ? ` (${ref.note})` : ""}.`, ""] : []),
    "A finding without positive or without negative images has no AUROC (—) and is left out of the mean (the",
    "reference's mean is over the same findings).",
  ];
}

/**
 * Renders the model card of a bundle as Markdown: model, data, training, metrics (the training-time
 * metrics, and the recorded evaluation's per-class AUROC with intervals beside CheXNet), intended use and
 * limits. Fields missing from older bundles are shown as not recorded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const card = modelCard({
 *   formatVersion: 1, classNames: ["Atelectasis", "Mass"], inputSize: 224, channels: 1, normalization: null,
 *   modelVersion: "densenet121-epoch-003", createdAt: "2026-12-05T00:00:00.000Z",
 *   architecture: { name: "densenet121", inputSize: 224 }, metrics: { mean_auroc: 0.81 }, splitDigest: "ab12",
 *   weights: { init: "imagenet", file: "notop.h5", md5: "4912a53fbd2a69346e7f2c0b5ec8c6d3", freeze: "none" },
 *   training: { source: "NIH ChestX-ray14", images: { train: 70000, val: 8000 }, epochs: 3, batchSize: 16,
 *     microBatch: 2, backend: "wasm", seconds: 7265 },
 *   evaluation: { partition: "test", images: 100, recordedAt: "2026-12-06T00:00:00.000Z", splitDigest: "ab12",
 *     engine: "onnx", bootstrap: { resamples: 1000, confidence: 0.95, seed: 0 },
 *     classes: { Atelectasis: { auroc: 0.8, ci: [0.75, 0.85], positives: 10, negatives: 90 },
 *       Mass: { auroc: null, ci: null, positives: 0, negatives: 100 } },
 *     mean: { auroc: 0.8, ci: [0.75, 0.85], classes: 1 },
 *     reference: { name: "CheXNet", source: "arXiv:1711.05225", perClass: { Atelectasis: 0.8094, Mass: 0.8676 } } },
 * });
 * assert.match(card, /^# Model card: densenet121-epoch-003/);
 * assert.match(card, /md5 `4912a53fbd2a69346e7f2c0b5ec8c6d3`/);
 * assert.match(card, /\| mean_auroc \| 0\.8100 \|/);
 * assert.match(card, /Epochs: 3; batch 16 images per step \(gradients accumulated over passes of 2\)/);
 * assert.match(card, /time: 2 h 1 min/);
 * assert.match(card, /\| Atelectasis \| 0\.800 \| 0\.750–0\.850 \| 10 \| 90 \| 0\.809 \|/);
 * assert.match(card, /\| Mass \| — \| — \| 0 \| 100 \| 0\.868 \|/);
 * assert.match(card, /Same split as training/);
 * ```
 */
export function modelCard(meta: BundleMetadata): string {
  const n = meta.normalization;
  const size = `${meta.inputSize}×${meta.inputSize}`;
  const channels = `${meta.channels} channel${meta.channels > 1 ? "s" : ""}`;
  const input = n
    ? `${size} raw pixels (${channels}), normalised inside the model: ` +
      `(pixel / ${n.inputScale} − mean [${n.mean.join(", ")}]) / std [${n.std.join(", ")}]`
    : `${size} pixels, ${meta.channels} channel(s), no normalisation in the model`;
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
    "## Data",
    "",
    ...dataSection(meta),
    "",
    "## Training",
    "",
    ...trainingSection(meta),
    "",
    "## Metrics",
    "",
    "### Evaluation",
    "",
    ...evaluationSection(meta),
    "",
    "### Recorded with the weights (by `train`: on the validation partition)",
    "",
    ...(metrics.length
      ? ["| metric | value |", "| --- | --- |", ...metrics.map(([k, v]) => `| ${k} | ${fmt(v)} |`)]
      : ["None recorded (e.g. an imported model)."]),
    "",
    "## Intended use and limits",
    "",
    "- For research and for building and testing chest X-ray tooling; not a medical device, not for diagnosis.",
    "- No clinical validation: not tested prospectively, against radiologists' reads, or at any other site.",
    "- Labels: NIH ChestX-ray14's 14 findings were mined from radiology reports by text processing (estimated",
    "  above 90 % accurate, not read by radiologists), so training and evaluation labels are noisy; an AUROC here",
    "  measures agreement with those labels.",
    "- Frontal views only (PA and AP) of one hospital's patients: do not score lateral views. Expect lower",
    "  performance on other hospitals, devices and children.",
    "- Probabilities are per finding and not calibrated across sites; pick thresholds on local validation data.",
    "- Heatmaps (CAM) show where the model looked, not where a finding is; do not use them to localise disease.",
    "",
  ].join("\n");
}
