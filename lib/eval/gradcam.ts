/**
 * Grad-CAM (Selvaraju et al. 2017) for any tfjs-layers classifier whose layers after its last 4-D feature map
 * form a chain (pooling, dense, activation: true of DenseNet, ResNet, VGG heads): the gradient of the class
 * score with respect to that feature map, averaged over space per channel, weights the channels; the weighted
 * sum is passed through a ReLU.
 *
 * For DenseNet's head (global average pooling, then a dense layer) the Grad-CAM map equals the class
 * activation map (CAM) with negatives cut, times a positive factor per image and class — a test checks it.
 *
 * @module
 */
import { tf, tfl } from "../model/mod.ts";
import type { HeatMap } from "./heatmap.ts";

/** Options of {@linkcode gradCam}. */
export interface GradCamOptions {
  /** Class to explain. @default the class with the highest score */
  classIndex?: number;
  /** Name of the feature layer. @default the last layer with a 4-D output */
  layer?: string;
}

/** What {@linkcode gradCam} returns. */
export interface GradCamResult {
  /** The map at the feature layer's resolution (ReLU applied; not scaled). */
  map: HeatMap;
  /** The class explained. */
  classIndex: number;
  /** The model's outputs for the image (after its own activation). */
  scores: Float32Array;
  /** The feature layer used. */
  layer: string;
}

function splitAtLayer(
  model: tfl.LayersModel,
  layerName?: string,
): { features: tfl.LayersModel; head: tfl.LayersModel; name: string } {
  const layers = model.layers;
  const feature = layerName === undefined
    ? layers.findLast((l) => !Array.isArray((l.outputShape as unknown[])[0]) && l.outputShape.length === 4)
    : layers.find((l) => l.name === layerName);
  if (!feature) {
    throw layerName === undefined
      ? new TypeError("gradCam: the model has no layer with a 4-D output")
      : new RangeError(`gradCam: the model has no layer "${layerName}"`);
  }
  if ((feature.outputShape as number[]).length !== 4) {
    throw new RangeError(`gradCam: layer "${layerName}" does not output a 4-D feature map`);
  }
  const input = tfl.input({ shape: (feature.outputShape as number[]).slice(1) });
  let y: tfl.SymbolicTensor = input;
  let previous = feature;
  for (const layer of layers.slice(layers.indexOf(feature) + 1)) {
    const inbound = layer.inboundNodes[0]?.inboundLayers ?? [];
    if (inbound.length !== 1 || inbound[0] !== previous) {
      throw new TypeError(
        `gradCam: layer "${layer.name}" after "${feature.name}" is not fed by "${previous.name}" alone; ` +
          `Grad-CAM here needs a chain of layers after the feature map (pass options.layer)`,
      );
    }
    y = layer.apply(y) as tfl.SymbolicTensor;
    previous = layer;
  }
  return {
    features: tfl.model({ inputs: model.inputs, outputs: feature.output as tfl.SymbolicTensor }),
    head: tfl.model({ inputs: input, outputs: y }),
    name: feature.name,
  };
}

/**
 * Grad-CAM of one image.
 *
 * @param model A classifier taking `[1, size, size, channels]` raw pixels.
 * @param pixels One image, `size * size * channels` values 0..255.
 * @returns The map, the class explained and the scores. Leaks no tensors.
 * @throws {RangeError} If `pixels` has the wrong length, `classIndex` is out of range or `layer` is unknown.
 * @throws {TypeError} If the layers after the feature map do not form a chain.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * const r = await gradCam(model, new Uint8Array(256).fill(90), { classIndex: 2 });
 * assert.deepEqual([r.map.width, r.map.height, r.classIndex, r.layer], [4, 4, 2, "relu"]);
 * assert.ok(r.map.data.every((v) => v >= 0));
 * model.dispose();
 * ```
 */
export async function gradCam(
  model: tfl.LayersModel,
  pixels: Uint8Array,
  options: GradCamOptions = {},
): Promise<GradCamResult> {
  const shape = (model.inputs[0]?.shape.slice(1) ?? []) as number[];
  const size = shape.reduce((a, b) => a * b, 1);
  if (pixels.length !== size) {
    throw new RangeError(
      `gradCam: pixels has ${pixels.length} values, the model takes ${shape.join("x")} = ${size}`,
    );
  }
  const { features, head, name } = splitAtLayer(model, options.layer);
  const classes = (model.outputs[0]?.shape.at(-1) as number | undefined) ?? 1;
  const x = tf.tensor(Float32Array.from(pixels), [1, ...shape]);
  try {
    const f = features.predict(x) as tf.Tensor4D;
    const scoresTensor = head.predict(f) as tf.Tensor;
    const scores = new Float32Array(await scoresTensor.data());
    scoresTensor.dispose();
    let classIndex = options.classIndex;
    if (classIndex === undefined) classIndex = scores.indexOf(Math.max(...scores));
    if (!Number.isSafeInteger(classIndex) || classIndex < 0 || classIndex >= classes) {
      f.dispose();
      throw new RangeError(`gradCam: classIndex must be an integer 0..${classes - 1}, got ${classIndex}`);
    }
    const c = classIndex;
    const cam = tf.tidy(() => {
      const score = (t: tf.Tensor) => (head.apply(t) as tf.Tensor).slice([0, c], [1, 1]).sum();
      const grads = tf.grad(score)(f); // [1, h, w, k]
      const weights = grads.mean([1, 2], true); // [1, 1, 1, k]
      return tf.relu(f.mul(weights).sum(3)).squeeze([0]); // [h, w]
    });
    f.dispose();
    const [h, w] = cam.shape as [number, number];
    const data = new Float32Array(await cam.data());
    cam.dispose();
    return { map: { data, width: w, height: h }, classIndex: c, scores, layer: name };
  } finally {
    x.dispose();
  }
}
