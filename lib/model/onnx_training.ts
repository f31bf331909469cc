/**
 * A training graph for ONNX Runtime: the model's forward pass in training mode (BatchNorm normalising with
 * batch statistics), the weighted binary cross-entropy of `lib/train/loss.ts`, and the backward pass written
 * out as plain ONNX operators, so that `onnxruntime-node` (an inference build: it has no training API) computes
 * the loss and the gradient of every trainable weight in one `run`. The weights are graph inputs, so one
 * session serves every step; the batch statistics come out for the moving-statistics update.
 *
 * The gradients follow tfjs' own definitions (clip's gradient passes only inside the clip range, ReLU's is 1
 * where its output is positive, BatchNorm's uses the biased batch variance) and are tested against
 * `computeGradients` on the tfjs backends (`onnx_training_test.ts`).
 *
 * The layer set is `createDenseNet`'s: Conv2D (no bias, no activation), BatchNormalization, Activation (relu),
 * ZeroPadding2D, MaxPooling2D, AveragePooling2D (pool size = stride), Concatenate (channels),
 * GlobalAveragePooling2D, and a last Dense with sigmoid; weightless layers before the first weight (the
 * normalisation, the stem's padding) are exported as `exportOnnx` does. Anything else is refused with an
 * {@linkcode OnnxExportError} naming the layer.
 *
 * @module
 */
import { tfl } from "./tf.ts";
import { graph, model as modelProto, node, valueInfo } from "./_onnx_proto.ts";
import { type Config, convertLayer, GraphBuilder, pair, refuse, same } from "./_onnx_layers.ts";
import { OnnxExportError } from "./onnx_export.ts";
import { one } from "./_one.ts";

/** The opset of the training graph (ScatterElements' `reduction` needs 16). */
const TRAINING_OPSET = 17;

/**
 * A training graph and where each of the model's weights goes in and its gradient comes out. Its inputs besides
 * the weights: `image` (NHWC, as the model takes it), `labels` `[N, classes]`, `positive`/`negative` (per-class
 * loss weights `[classes]`), `scale` (a `[1]` factor on the summed loss: `share / (N · classes)` gives the mean
 * loss times the micro-batch's share of the batch). Its outputs: `loss` `[1]`, then the gradients and
 * statistics named here.
 */
export interface TrainingGraph {
  /** The encoded ONNX model. */
  bytes: Uint8Array;
  /**
   * The weight inputs: `index` into `model.weights`, the graph input's name, its (tfjs) shape, and the name of
   * its gradient output (`null` for a weight that is not trainable).
   */
  weights: { index: number; input: string; shape: number[]; gradient: string | null }[];
  /**
   * Each BatchNormalization layer in model order: its name, the outputs holding the batch mean and the biased
   * batch variance per channel, and how many values per image each channel averages (height · width).
   */
  statistics: { layer: string; mean: string; variance: string; perImage: number; channels: number }[];
  /** Classes (the last Dense's units). */
  classes: number;
  /**
   * Where the backward pass starts: nodes named `<Op>_<n>` with n at least this are backward (the loss's
   * gradient included), those below it forward (bench/onnx_train_profile.ts splits a profile so).
   */
  backwardFrom: number;
}

type Shape = [number, number, number]; // H, W, C of a 4-D value; [features] of a 2-D one is [1, 1, F]

interface Step {
  /** The backward pass: given the output's gradient, adds the input gradients via `give`. */
  back(dy: string): void;
  output: string;
}

/**
 * Builds the training graph of a model as `createDenseNet` makes it.
 *
 * @param model a single-input model taking NHWC images and ending in a sigmoid Dense layer.
 * @returns the encoded graph and its weight, gradient and statistics names.
 * @throws {OnnxExportError} naming the first layer that cannot be trained this way.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend } from "./mod.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16, classes: 3 });
 * const g = await exportTrainingOnnx(model);
 * assert.equal(g.classes, 3);
 * assert.ok(g.weights.every((w) => w.gradient !== null));
 * assert.equal(g.statistics.length, 4); // stem, two in the block, the last
 * ```
 */
export async function exportTrainingOnnx(model: tfl.LayersModel): Promise<TrainingGraph> {
  const [input, ...more] = model.inputs;
  const [output, ...moreOut] = model.outputs;
  if (!input || !output || more.length > 0 || moreOut.length > 0 || input.shape.length !== 4) {
    throw new OnnxExportError(
      `exportTrainingOnnx: only models with one NHWC image input and one output can be trained on ONNX Runtime`,
      "",
      "",
    );
  }
  const g = new TrainingGraphBuilder();
  const weights: TrainingGraph["weights"] = [];
  const statistics: TrainingGraph["statistics"] = [];
  const weightIndex = new Map(model.weights.map((w, i) => [w, i]));
  const needsGrad = new Set<string>();
  const shapes = new Map<string, Shape>();
  const grads = new Map<string, string[]>();
  const give = (value: string, gradient: string) => {
    if (needsGrad.has(value)) grads.set(value, [...(grads.get(value) ?? []), gradient]);
  };
  const steps: Step[] = [];
  const weightInput = (layer: tfl.layers.Layer, key: string): { name: string; gradient: string | null } => {
    const w = layer.weights.find((v) => v.originalName.split("/").pop() === key);
    const index = w ? weightIndex.get(w) : undefined;
    if (!w || index === undefined) refuse(layer, `no ${key} weight`);
    const name = `w${index}`;
    const gradient = w.trainable ? `grad${index}` : null;
    weights.push({ index, input: name, shape: [...w.shape] as number[], gradient });
    return { name, gradient };
  };
  const [, height, width, channels] = input.shape as [null, number, number, number];
  const image = g.add("Transpose", ["image"], "image/nchw", { perm: [0, 3, 1, 2] });
  g.bind(input, image);
  shapes.set(image, [height, width, channels]);
  const batchShape = g.add("Shape", ["image"], "batch/shape", { start: 0, end: 1 });
  const batch = g.add("Cast", [batchShape], "batch", { to: 1 });
  let classes = 0;
  const last = model.layers.at(-1);
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (layer.inboundNodes.length !== 1) refuse(layer, "a layer applied more than once");
    if (cls === "InputLayer") continue;
    const inputs = [layer.input].flat() as tfl.SymbolicTensor[];
    const config = layer.getConfig() as Config;
    const outShape = (one(layer.output) as tfl.SymbolicTensor).shape;
    const shapeOf = (s: (number | null)[]): Shape =>
      s.length === 4 ? [s[1]!, s[2]!, s[3]!] : [1, 1, s[1] as number];
    let y: string;
    if (cls === "Concatenate") {
      const names = inputs.map((t) => g.name(t));
      if (![3, -1].includes(config.axis as number) || inputs[0]?.shape.length !== 4) {
        refuse(layer, `axis ${config.axis} (only channels)`);
      }
      y = g.add("Concat", names, layer.name, { axis: 1 });
      const sizes = inputs.map((t) => t.shape[3] as number);
      steps.push({
        output: y,
        back: (dy) => {
          const outs = names.map((n) => `${n}/grad/${layer.name}`);
          g.nodes.push(node("Split", [dy, g.ints(sizes)], outs, `${layer.name}/split`, { axis: 1 }));
          names.forEach((n, i) => give(n, outs[i]!));
        },
      });
      if (names.some((n) => needsGrad.has(n))) needsGrad.add(y);
    } else {
      const [xt] = inputs;
      if (!xt || inputs.length !== 1) refuse(layer, `${inputs.length} inputs`);
      const x = g.name(xt);
      const [h, w, c] = shapes.get(x) ?? shapeOf(xt.shape);
      if (!needsGrad.has(x) && layer.weights.length === 0) {
        // Before the first weight: nothing to differentiate, exported as for inference.
        y = await convertLayer(g, layer, x, xt.shape as number[]);
      } else if (cls === "Conv2D") {
        if (config.useBias) refuse(layer, "a bias (DenseNet's convolutions have none)");
        if (config.activation !== "linear") refuse(layer, `activation "${config.activation}"`);
        const [kh, kw] = pair(config.kernelSize), strides = pair(config.strides);
        const dilations = pair(config.dilationRate ?? 1);
        if (dilations[0] !== 1 || dilations[1] !== 1) refuse(layer, "a dilation");
        const pads = config.padding === "same"
          ? [...same(h, kh, strides[0]), ...same(w, kw, strides[1])]
          : config.padding === "valid"
          ? [0, 0, 0, 0]
          : refuse(layer, `padding "${config.padding}"`);
        const onnxPads = [pads[0]!, pads[2]!, pads[1]!, pads[3]!];
        const kernel = weightInput(layer, "kernel");
        const oihw = g.transpose(kernel.name, [3, 2, 0, 1], `${layer.name}/oihw`);
        y = g.add("Conv", [x, oihw], layer.name, { kernel_shape: [kh, kw], strides, pads: onnxPads });
        const [ho, wo] = shapeOf(outShape);
        const needX = needsGrad.has(x);
        steps.push({
          output: y,
          back: (dy) => {
            if (kernel.gradient) {
              if (kh === 1 && kw === 1 && strides[0] === 1 && strides[1] === 1) {
                // dW[i, o] = Σ x[n, i, p] · dy[n, o, p]: one batched product, summed over the batch.
                const xr = g.reshape(x, [0, c, -1]);
                const dyt = g.transpose(g.reshape(dy, [0, -1, ho * wo]), [0, 2, 1], `${layer.name}/dyT`);
                const per = g.add("MatMul", [xr, dyt], `${layer.name}/dW/n`);
                const sum = g.add("ReduceSum", [per, g.ints([0])], `${layer.name}/dW/io`, { keepdims: 0 });
                g.add("Reshape", [sum, g.ints([1, 1, c, -1])], kernel.gradient);
              } else if (strides[0] === 1 && strides[1] === 1) {
                // dW[a, b, i, o] = Σ_q x[n, i, q] · dy[n, o, q − (a, b) + (top, left)]: for each tap, x (as it is)
                // times dy shifted by the tap (zero outside), one batched product per tap, summed over the batch.
                // Shifting dy rather than x copies growth-rate channels, not the block's whole width.
                const dyp = g.add(
                  "Pad",
                  [dy, g.ints([0, 0, kh - 1, kw - 1, 0, 0, kh - 1, kw - 1])],
                  `${layer.name}/dypad`,
                );
                const xr = g.reshape(x, [0, c, -1]);
                const taps: string[] = [];
                for (let a = 0; a < kh; a++) {
                  for (let e = 0; e < kw; e++) {
                    const top = pads[0]! - a + kh - 1, left = pads[2]! - e + kw - 1;
                    const shifted = g.slice(
                      dyp,
                      [top, left],
                      [top + h, left + w],
                      `${layer.name}/dy${a}${e}`,
                    );
                    const t = g.transpose(
                      g.reshape(shifted, [0, -1, h * w]),
                      [0, 2, 1],
                      `${layer.name}/dy${a}${e}T`,
                    );
                    taps.push(g.add("MatMul", [xr, t], `${layer.name}/dW${a}${e}`));
                  }
                }
                const per = g.add("Concat", taps, `${layer.name}/dW/n`, { axis: 1 });
                const sum = g.add("ReduceSum", [per, g.ints([0])], `${layer.name}/dW/io`, { keepdims: 0 });
                g.add("Reshape", [sum, g.ints([kh, kw, c, -1])], kernel.gradient);
              } else {
                // dW as a convolution of x (batch and channels swapped) with dy as the kernel, dilated by the stride.
                const xs = g.transpose(x, [1, 0, 2, 3], `${layer.name}/xT`);
                const dys = g.transpose(dy, [1, 0, 2, 3], `${layer.name}/dyT`);
                const full = g.add("Conv", [xs, dys], `${layer.name}/dW/full`, {
                  kernel_shape: [ho, wo],
                  dilations: strides,
                  pads: onnxPads,
                });
                const cut = g.slice(full, [0, 0], [kh, kw], `${layer.name}/dW/cut`);
                g.transpose(cut, [2, 3, 0, 1], kernel.gradient);
              }
            }
            if (!needX) return;
            if (strides[0] === 1 && strides[1] === 1) {
              // Stride 1: dx is the convolution of dy with the kernel flipped in space and its channels swapped.
              const flipped = kh === 1 && kw === 1 ? oihw : g.add(
                "Slice",
                [oihw, g.ints([-1, -1]), g.ints([-(2 ** 62), -(2 ** 62)]), g.ints([2, 3]), g.ints([-1, -1])],
                `${layer.name}/flip`,
              );
              const back = g.transpose(flipped, [1, 0, 2, 3], `${layer.name}/iohw`);
              const backPads = [kh - 1 - pads[0]!, kw - 1 - pads[2]!, kh - 1 - pads[1]!, kw - 1 - pads[3]!];
              give(
                x,
                g.add("Conv", [dy, back], `${layer.name}/dx`, { kernel_shape: [kh, kw], pads: backPads }),
              );
              return;
            }
            const outPad = [
              h - ((ho - 1) * strides[0] + kh - pads[0]! - pads[1]!),
              w - ((wo - 1) * strides[1] + kw - pads[2]! - pads[3]!),
            ];
            const attrs: Record<string, number[]> = { kernel_shape: [kh, kw], strides, pads: onnxPads };
            if (outPad[0] || outPad[1]) attrs.output_padding = outPad;
            give(x, g.add("ConvTranspose", [dy, oihw], `${layer.name}/dx`, attrs));
          },
        });
      } else if (cls === "BatchNormalization") {
        if (![3, -1].includes(config.axis as number) || xt.shape.length !== 4) {
          refuse(layer, `axis ${config.axis} (only the channel axis of an image)`);
        }
        const n = layer.name;
        const gamma = weightInput(layer, "gamma"), beta = weightInput(layer, "beta");
        const gamma4 = g.reshape(gamma.name, [1, c, 1, 1]), beta4 = g.reshape(beta.name, [1, c, 1, 1]);
        const epsilon = g.float(config.epsilon as number);
        const inverse = (variance: string) =>
          g.add(
            "Reciprocal",
            [g.add("Sqrt", [g.add("Add", [variance, epsilon], `${n}/ve`)], `${n}/sd`)],
            `${n}/inv`,
          );
        let xhat: string, inv: string;
        if (!layer.trainable) {
          // Frozen: inference mode, as lib/model's BatchNormalization runs it (moving statistics, left alone).
          const mean = g.reshape(weightInput(layer, "moving_mean").name, [1, c, 1, 1]);
          inv = inverse(g.reshape(weightInput(layer, "moving_variance").name, [1, c, 1, 1]));
          xhat = g.add("Mul", [g.add("Sub", [x, mean], `${n}/xc`), inv], `${n}/xhat`);
        } else {
          const axes = { axes: [0, 2, 3], keepdims: 1 };
          const mean = g.add("ReduceMean", [x], `${n}/mean`, axes);
          const xc = g.add("Sub", [x, mean], `${n}/xc`);
          const variance = g.add("ReduceMean", [g.add("Mul", [xc, xc], `${n}/sq`)], `${n}/var`, axes);
          inv = inverse(variance);
          xhat = g.add("Mul", [xc, inv], `${n}/xhat`);
          const stats = {
            layer: n,
            mean: `${n}/batch_mean`,
            variance: `${n}/batch_variance`,
            perImage: h * w,
            channels: c,
          };
          g.add("Reshape", [mean, g.ints([c])], stats.mean);
          g.add("Reshape", [variance, g.ints([c])], stats.variance);
          statistics.push(stats);
        }
        y = g.add("Add", [g.add("Mul", [xhat, gamma4], `${n}/scaled`), beta4], n);
        const frozen = !layer.trainable;
        const needX = needsGrad.has(x);
        steps.push({
          output: y,
          back: (dy) => {
            if (frozen) {
              // The moving statistics are constants: dx = dy · γ · inv.
              if (needX) give(x, g.add("Mul", [dy, g.add("Mul", [gamma4, inv], `${n}/gi`)], `${n}/dx`));
              return;
            }
            const sum = { keepdims: 1 };
            const dbeta = g.add("ReduceSum", [dy, g.ints([0, 2, 3])], `${n}/dbeta4`, sum);
            const dgamma = g.add(
              "ReduceSum",
              [g.add("Mul", [dy, xhat], `${n}/dyxhat`), g.ints([0, 2, 3])],
              `${n}/dgamma4`,
              sum,
            );
            if (beta.gradient) g.add("Reshape", [dbeta, g.ints([c])], beta.gradient);
            if (gamma.gradient) g.add("Reshape", [dgamma, g.ints([c])], gamma.gradient);
            if (!needX) return;
            // dx = γ·inv · (dy − mean(dy) − x̂ · mean(dy·x̂)), the means over batch, height and width.
            const count = g.add("Mul", [batch, g.float(h * w)], `${n}/count`);
            const mdy = g.add("Div", [dbeta, count], `${n}/mdy`);
            const mdyx = g.add("Div", [dgamma, count], `${n}/mdyx`);
            const centred = g.add("Sub", [
              g.add("Sub", [dy, mdy], `${n}/dyc`),
              g.add("Mul", [xhat, mdyx], `${n}/xm`),
            ], `${n}/dxc`);
            give(x, g.add("Mul", [centred, g.add("Mul", [gamma4, inv], `${n}/gi`)], `${n}/dx`));
          },
        });
      } else if (cls === "Activation") {
        if (config.activation !== "relu") refuse(layer, `activation "${config.activation}" (only relu)`);
        y = g.add("Relu", [x], layer.name);
        steps.push({
          output: y,
          back: (dy) => {
            const positive = g.add("Greater", [y, g.float(0)], `${layer.name}/on`);
            give(x, g.add("Where", [positive, dy, g.float(0)], `${layer.name}/dx`));
          },
        });
      } else if (cls === "ZeroPadding2D") {
        const [[t, bo], [l, r]] = config.padding as [[number, number], [number, number]];
        y = g.add("Pad", [x, g.ints([0, 0, t, l, 0, 0, bo, r])], layer.name);
        steps.push({
          output: y,
          back: (dy) => give(x, g.slice(dy, [t, l], [t + h, l + w], `${layer.name}/dx`)),
        });
      } else if (cls === "MaxPooling2D") {
        const kernel = pair(config.poolSize), strides = pair(config.strides ?? kernel);
        // "same" pads are left out of the maximum in both tfjs and ONNX (and out of the indices).
        const [[t, bo], [l, r]] = config.padding === "same"
          ? [same(h, kernel[0], strides[0]), same(w, kernel[1], strides[1])]
          : config.padding === "valid"
          ? [[0, 0], [0, 0]]
          : refuse(layer, `padding "${config.padding}"`);
        const poolPads = [t, l, bo, r];
        y = layer.name;
        const indices = `${layer.name}/indices`;
        g.nodes.push(
          node("MaxPool", [x], [y, indices], layer.name, { kernel_shape: kernel, strides, pads: poolPads }),
        );
        steps.push({
          output: y,
          back: (dy) => {
            // Each output's gradient goes to the input position its maximum came from (indices over N·C·H·W).
            const shape = g.add("Shape", [x], `${layer.name}/xshape`);
            const zeros = g.add("ConstantOfShape", [shape], `${layer.name}/zeros`);
            const flat = (v: string, what: string) =>
              g.add("Reshape", [v, g.ints([-1])], `${layer.name}/${what}`);
            const scattered = g.add(
              "ScatterElements",
              [flat(zeros, "z1"), flat(indices, "i1"), flat(dy, "d1")],
              `${layer.name}/scatter`,
              { axis: 0, reduction: "add" },
            );
            give(
              x,
              g.add("Reshape", [scattered, g.add("Shape", [x], `${layer.name}/xshape2`)], `${layer.name}/dx`),
            );
          },
        });
      } else if (cls === "AveragePooling2D") {
        const kernel = pair(config.poolSize), strides = pair(config.strides ?? kernel);
        if (config.padding !== "valid" || kernel[0] !== strides[0] || kernel[1] !== strides[1]) {
          refuse(layer, "pooling other than valid with pool size = strides");
        }
        y = g.add("AveragePool", [x], layer.name, { kernel_shape: kernel, strides });
        const [ho, wo] = shapeOf(outShape);
        steps.push({
          output: y,
          back: (dy) => {
            // Each output's gradient, divided by the window's size, spread over its window; the rows and
            // columns the pooling dropped get none.
            const [kh, kw] = kernel;
            const up = g.add(
              "Expand",
              [g.reshape(dy, [0, c, ho, 1, wo, 1]), g.ints([1, 1, 1, kh, 1, kw])],
              `${layer.name}/up6`,
            );
            const spread = g.add(
              "Mul",
              [g.reshape(up, [0, c, ho * kh, wo * kw]), g.float(1 / (kh * kw))],
              `${layer.name}/up`,
            );
            const rest = [h - ho * kh, w - wo * kw];
            give(
              x,
              rest[0] || rest[1]
                ? g.add("Pad", [spread, g.ints([0, 0, 0, 0, 0, 0, rest[0]!, rest[1]!])], `${layer.name}/dx`)
                : spread,
            );
          },
        });
      } else if (cls === "GlobalAveragePooling2D") {
        if (config.keepDims) refuse(layer, "keepDims");
        y = g.reshape(g.add("GlobalAveragePool", [x], `${layer.name}/pool`), [0, c], layer.name);
        steps.push({
          output: y,
          back: (dy) => {
            const d4 = g.add("Mul", [g.reshape(dy, [0, c, 1, 1]), g.float(1 / (h * w))], `${layer.name}/d4`);
            give(x, g.add("Expand", [d4, g.add("Shape", [x], `${layer.name}/xshape`)], `${layer.name}/dx`));
          },
        });
      } else if (cls === "Dense" && layer === last) {
        if (config.activation !== "sigmoid") {
          refuse(layer, `activation "${config.activation}" (the last layer must be a sigmoid Dense)`);
        }
        if (xt.shape.length !== 2) refuse(layer, `input of rank ${xt.shape.length}`);
        classes = config.units as number;
        const kernel = weightInput(layer, "kernel");
        const bias = config.useBias ? weightInput(layer, "bias") : null;
        const z = g.add(
          "Gemm",
          bias ? [x, kernel.name, bias.name] : [x, kernel.name],
          `${layer.name}/logits`,
        );
        y = g.add("Sigmoid", [z], layer.name);
        const needX = needsGrad.has(x);
        steps.push({
          output: y,
          back: (dz) => {
            if (kernel.gradient) g.add("Gemm", [x, dz], kernel.gradient, { transA: 1 });
            if (bias?.gradient) g.add("ReduceSum", [dz, g.ints([0])], bias.gradient, { keepdims: 0 });
            if (needX) give(x, g.add("Gemm", [dz, kernel.name], `${layer.name}/dx`, { transB: 1 }));
          },
        });
      } else {
        return refuse(
          layer,
          `not trainable on ONNX Runtime (supported: Conv2D, BatchNormalization, relu, ` +
            `ZeroPadding2D, MaxPooling2D, AveragePooling2D, Concatenate, GlobalAveragePooling2D, a last sigmoid Dense)`,
        );
      }
      // A value needs a gradient when a trainable weight lies on its path from the input.
      if (needsGrad.has(x) || layer.trainableWeights.length > 0) needsGrad.add(y);
    }
    shapes.set(y, shapeOf(outShape));
    g.bind(one(layer.output) as tfl.SymbolicTensor, y);
  }
  if (classes === 0 || g.name(output) !== last?.name) {
    throw new OnnxExportError(
      `exportTrainingOnnx: "${model.name}" must end in a sigmoid Dense layer to be trained on ONNX Runtime`,
      last?.name ?? "",
      last?.getClassName() ?? "",
    );
  }
  // The loss (lib/train/loss.ts): −Σ (w⁺·y·log p + w⁻·(1−y)·log(1−p)) · scale, p clipped to [ε, 1−ε].
  const p = g.name(output);
  const eps = 1e-7, top = Math.fround(1 - eps);
  const pc = g.add("Clip", [p, g.float(eps), g.float(top)], "loss/p");
  const notY = g.add("Sub", [g.float(1), "labels"], "loss/1-y");
  const notP = g.add("Sub", [g.float(1), pc], "loss/1-p");
  const pos = g.add("Mul", [
    g.add("Mul", ["labels", g.add("Log", [pc], "loss/logp")], "loss/ylogp"),
    "positive",
  ], "loss/pos");
  const neg = g.add("Mul", [
    g.add("Mul", [notY, g.add("Log", [notP], "loss/log1-p")], "loss/ylog1-p"),
    "negative",
  ], "loss/neg");
  const total = g.add("ReduceSum", [g.add("Add", [pos, neg], "loss/terms")], "loss/sum", { keepdims: 0 });
  g.add(
    "Mul",
    [g.add("Neg", [g.add("Reshape", [total, g.ints([1])], "loss/sum1")], "loss/neg_sum"), "scale"],
    "loss",
  );
  // Its gradient through the clip (open only inside [ε, 1−ε]) and the sigmoid: dz = dp · p · (1 − p).
  const backwardFrom = g.count;
  const dpc = g.add(
    "Mul",
    [
      g.add("Sub", [
        g.add("Div", [g.add("Mul", ["labels", "positive"], "dloss/yw"), pc], "dloss/a"),
        g.add("Div", [g.add("Mul", [notY, "negative"], "dloss/nw"), notP], "dloss/b"),
      ], "dloss/ab"),
      g.add("Neg", ["scale"], "dloss/-scale"),
    ],
    "dloss/dpc",
  );
  const inside = g.add(
    "And",
    [
      g.add("GreaterOrEqual", [p, g.float(eps)], "dloss/lo"),
      g.add("LessOrEqual", [p, g.float(top)], "dloss/hi"),
    ],
    "dloss/inside",
  );
  const dp = g.add("Where", [inside, dpc, g.float(0)], "dloss/dp");
  const dz = g.add(
    "Mul",
    [dp, g.add("Mul", [p, g.add("Sub", [g.float(1), p], "dloss/1-p")], "dloss/pq")],
    "dloss/dz",
  );
  // Backward, last layer first; a value used twice sums its gradients.
  grads.set(p, [dz]);
  for (const step of steps.reverse()) {
    const parts = grads.get(step.output);
    if (!parts) continue;
    const dy = parts.length === 1 ? parts[0]! : g.add("Sum", parts, `${step.output}/grad`);
    step.back(dy);
  }
  const inputs = [
    valueInfo("image", ["N", height, width, channels]),
    valueInfo("labels", ["N", classes]),
    valueInfo("positive", [classes]),
    valueInfo("negative", [classes]),
    valueInfo("scale", [1]),
    ...weights.map((w) => valueInfo(w.input, w.shape)),
  ];
  const outputs = [
    valueInfo("loss", [1]),
    ...weights.flatMap((w) => w.gradient ? [valueInfo(w.gradient, w.shape)] : []),
    ...statistics.flatMap((s) => [valueInfo(s.mean, [s.channels]), valueInfo(s.variance, [s.channels])]),
  ];
  const bytes = modelProto(graph(`${model.name}_training`, g.nodes, g.initializers, inputs, outputs), {
    opset: TRAINING_OPSET,
    irVersion: 8,
    producer: "cxr-tools",
    version: `tfjs-layers ${tfl.version_layers}`,
    metadata: {},
  });
  return { bytes, weights, statistics, classes, backwardFrom };
}

/** A {@linkcode GraphBuilder} with shared constants and reshapes. */
class TrainingGraphBuilder extends GraphBuilder {
  #constants = new Map<string, string>();
  #reshapes = 0;
  #shared(key: string, make: (name: string) => string): string {
    const name = this.#constants.get(key) ?? make(`const/${key}`);
    this.#constants.set(key, name);
    return name;
  }
  ints(values: number[]): string {
    return this.#shared(
      `i${values}`,
      (n) => this.constant(n, [values.length], BigInt64Array.from(values, BigInt)),
    );
  }
  float(value: number): string {
    return this.#shared(`f${value}`, (n) => this.constant(n, [], Float32Array.of(value)));
  }
  /** Slice over the spatial axes (2, 3) of an NCHW value. */
  slice(x: string, starts: number[], ends: number[], name: string): string {
    return this.add("Slice", [x, this.ints(starts), this.ints(ends), this.ints([2, 3])], name);
  }
  transpose(x: string, perm: number[], name: string): string {
    return this.add("Transpose", [x], name, { perm });
  }
  reshape(x: string, shape: number[], name = `${x}/r${this.#reshapes++}`): string {
    return this.add("Reshape", [x, this.ints(shape)], name);
  }
}
