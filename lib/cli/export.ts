/**
 * `deno task cxr export onnx`: writes a model bundle's `model.onnx` with the project's own exporter and checks
 * that ONNX Runtime agrees with tfjs on it.
 *
 * @module
 */
import { BACKENDS, checkBundleOnnx, ONNX_OPSET, selectBackend, writeBundleOnnx } from "../model/mod.ts";
import { choiceOption, type Command, intOption, stringOption } from "./command.ts";

/**
 * The `export onnx` command. With `--json` it prints
 * `{"model","onnx","bytes","opset","seconds","check":{"images","maxAbsDiff"}|null}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(exportOnnxCommand.name, "export onnx");
 * assert.equal(exportOnnxCommand.options.model?.required, true);
 * ```
 */
export const exportOnnxCommand: Command = {
  name: "export onnx",
  summary: "Write <model>/model.onnx (opset 13, outputs probabilities and cam) and check it against tfjs.",
  details:
    "The bundle keeps its tfjs model; `serve` and `score` then run it on ONNX Runtime (engine auto). " +
    "The ONNX input is `image`, NHWC float [N, size, size, 1] of raw 0..255 grey pixels (normalisation is " +
    "inside), the outputs `probabilities` [N, 14] and `cam` [N, h, w, 14] (class activation maps). " +
    "`cxr train` already writes it into best/. The check scores --check-images seeded random images with " +
    "both engines and fails when the probabilities differ by more than 1e-5.",
  options: {
    model: { valueName: "DIR", description: "The model bundle folder.", required: true },
    backend: {
      valueName: "NAME",
      description: `tfjs backend to load the model on: auto, ${BACKENDS.join(", ")}.`,
      defaultText: "wasm",
    },
    "check-images": {
      valueName: "N",
      description: "Images to compare the engines on; 0 skips the check.",
      defaultText: "2",
    },
  },
  async run(values, ctx) {
    const dir = stringOption(values, "model");
    const backend = choiceOption(values, "backend", ["auto", ...BACKENDS] as const, "wasm");
    const images = intOption(values, "check-images", { min: 0, max: 64, fallback: 2 });
    const selected = await selectBackend(backend);
    ctx.err(`backend: ${selected.name} (${selected.reason})`);
    const started = performance.now();
    const { path, bytes } = await writeBundleOnnx(dir);
    const seconds = Math.round((performance.now() - started) / 10) / 100;
    const check = images > 0 ? await checkBundleOnnx(dir, { images }) : null;
    if (check && !(check.maxAbsDiff <= 1e-5)) {
      throw new Error(
        `ONNX Runtime and tfjs disagree on "${path}": probabilities differ by ${check.maxAbsDiff} (> 1e-5)`,
      );
    }
    if (ctx.json) {
      ctx.out(JSON.stringify({ model: dir, onnx: path, bytes, opset: ONNX_OPSET, seconds, check }));
      return;
    }
    const agree = check
      ? `; ONNX Runtime agrees with tfjs to ${check.maxAbsDiff.toExponential(1)} on ${check.images} images`
      : "";
    ctx.out(`Wrote ${path} (${(bytes / 1e6).toFixed(1)} MB, opset ${ONNX_OPSET}) in ${seconds} s${agree}`);
  },
};
