/**
 * Recognising a DenseNet in the weight-carrying layers of a Keras file, and copying its weights into one of
 * ours: by layer name when the names match (`keras.applications`' `conv1/conv`, `conv2_block1_0_bn`, ...), else
 * by topological order and weight shapes (keras-contrib's auto-generated `conv2d_1`, `batch_normalization_1`,
 * ...). Both DenseNets are BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k) blocks with BN-ReLU-Conv1x1-AvgPool
 * transitions and a final BN-ReLU-GAP-Dense, so a file's layer sequence gives the block sizes and growth rate.
 *
 * @module
 */
import { tf, tfl } from "./tf.ts";
import { ModelError } from "./errors.ts";

/** A weight-carrying layer of a Keras file: its name and weights by last name part (`kernel`, `gamma`, ...). */
export interface KerasSourceLayer {
  /** Layer name as the file stores it. */
  name: string;
  /** Weights by their last name part. */
  weights: ReadonlyMap<string, { shape: readonly number[]; values: Float32Array }>;
}

/** The sizes of a DenseNet found by {@link inferKerasDenseNet}. */
export interface KerasDenseNetShape {
  /** Conv blocks per dense block, e.g. `[6, 12, 24, 16]`. */
  blocks: number[];
  /** Channels each conv block adds (the 3x3 convolutions' filters). */
  growthRate: number;
  /** Filters of the 7x7 stem convolution. */
  stemFilters: number;
  /** Input channels of the stem convolution (3 for an RGB-trained model). */
  inputChannels: number;
  /** Units of the Dense head. */
  classes: number;
}

/**
 * A Keras file cannot become a bundle: not a DenseNet this code can rebuild, or a layer that does not match.
 * `layer` names the file's layer at fault (`""` when none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new KerasModelImportError("no", "m.h5", "conv2d_3");
 * assert.equal(e.layer, "conv2d_3");
 * ```
 */
export class KerasModelImportError extends ModelError {
  /**
   * @param file The Keras file.
   * @param layer The file's layer at fault, or `""`.
   */
  constructor(message: string, readonly file: string, readonly layer = "", options?: ErrorOptions) {
    super(message, options);
  }
}

type Kind = "conv" | "bn" | "dense" | "other";

function layerKind(layer: KerasSourceLayer): Kind {
  const kernel = layer.weights.get("kernel");
  if (kernel?.shape.length === 4) return "conv";
  if (kernel?.shape.length === 2) return "dense";
  return layer.weights.has("moving_mean") ? "bn" : "other";
}

const KIND_OF_CLASS: Record<string, Kind> = { Conv2D: "conv", BatchNormalization: "bn", Dense: "dense" };

/** `"conv2d_3" (kernel [3,3,16,4])`. */
function describe(layer: KerasSourceLayer): string {
  const key = ["kernel", "gamma", "moving_mean"].find((k) => layer.weights.has(k));
  return key
    ? `"${layer.name}" (${key} [${layer.weights.get(key)!.shape}])`
    : `"${layer.name}" (${[...layer.weights.keys()]})`;
}

/**
 * Reads a DenseNet's sizes from the sequence of its weight-carrying layers: a 7x7 stem convolution and its
 * BatchNorm; per conv block BN, 1x1 conv, BN, 3x3 conv; per transition BN, 1x1 conv; a final BN; a Dense head.
 * The growth rate is the most common 3x3 filter count and the stem's width its BatchNorm's, so that a single
 * misshapen layer shows up as itself in {@link loadKerasLayers}.
 *
 * @param layers the file's weight-carrying layers in topological order.
 * @param file the file, for messages.
 * @returns block sizes, growth rate, stem filters, input channels and head units.
 * @throws {KerasModelImportError} naming the first layer that is not where a DenseNet has it.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const w = (shape: number[]) => ({ shape, values: new Float32Array(shape.reduce((a, b) => a * b)) });
 * const conv = (name: string, k: number, i: number, o: number) => ({ name, weights: new Map([["kernel", w([k, k, i, o])]]) });
 * const bn = (name: string, c: number) => ({ name, weights: new Map([["gamma", w([c])], ["moving_mean", w([c])]]) });
 * const layers = [
 *   conv("conv2d_1", 7, 3, 8), bn("batch_normalization_1", 8),
 *   bn("batch_normalization_2", 8), conv("conv2d_2", 1, 8, 16), bn("batch_normalization_3", 16), conv("conv2d_3", 3, 16, 4),
 *   bn("batch_normalization_4", 12),
 *   { name: "dense_1", weights: new Map([["kernel", w([12, 14])], ["bias", w([14])]]) },
 * ];
 * assert.deepEqual(inferKerasDenseNet(layers, "m.h5"), {
 *   blocks: [1], growthRate: 4, stemFilters: 8, inputChannels: 3, classes: 14,
 * });
 * assert.throws(() => inferKerasDenseNet(layers.slice(1), "m.h5"), /layer 1 of 7 "batch_normalization_1"/);
 * ```
 */
export function inferKerasDenseNet(layers: readonly KerasSourceLayer[], file: string): KerasDenseNetShape {
  let i = 0;
  const kind = (j: number) => {
    const layer = layers[j];
    return layer ? layerKind(layer) : "end";
  };
  const kernel = (j: number) => layers[j]?.weights.get("kernel")?.shape ?? [];
  /** The `k`x`k` convolution kernel of layer `j`, `[k, k, in, out]`, or undefined. */
  const conv = (j: number, k: number) => {
    const s = kind(j) === "conv" ? kernel(j) : [];
    return s.length === 4 && s[0] === k && s[1] === k
      ? s as readonly [number, number, number, number]
      : undefined;
  };
  function expect(ok: boolean, what: string): asserts ok {
    if (ok) return;
    const layer = layers[i];
    const at = layer
      ? `layer ${i + 1} of ${layers.length} ${describe(layer)}`
      : `the end of its ${layers.length} weight-carrying layers`;
    throw new KerasModelImportError(
      `Cannot import Keras model "${file}": not a DenseNet this importer can rebuild: at ${at}, expected ${what}`,
      file,
      layer?.name ?? "",
    );
  }
  const stem = conv(0, 7);
  expect(stem !== undefined, "the 7x7 stem convolution");
  const inputChannels = stem[2];
  i = 1;
  const stemFilters = layers[1]?.weights.get("moving_mean")?.shape[0];
  expect(kind(1) === "bn" && stemFilters !== undefined, "the stem's BatchNormalization");
  i = 2;
  const blocks: number[] = [];
  const growths: number[] = [];
  let count = 0;
  for (;;) {
    expect(kind(i) === "bn", "a BatchNormalization (of a conv block, a transition or the final one)");
    if (kind(i + 1) === "dense") break;
    if (!conv(i + 1, 1)) {
      i++;
      expect(false, "a 1x1 convolution (of a conv block or a transition) or the Dense head");
    }
    const growth = kind(i + 2) === "bn" ? conv(i + 3, 3)?.[3] : undefined;
    if (growth !== undefined) {
      growths.push(growth);
      count++;
      i += 4;
    } else {
      expect(count > 0, "a conv block before the transition");
      blocks.push(count);
      count = 0;
      i += 2;
    }
  }
  expect(count > 0, "a conv block before the final BatchNormalization");
  blocks.push(count);
  i += 2;
  expect(i === layers.length, "nothing after the Dense head");
  // The most common 3x3 filter count, so that one misshapen layer is reported as itself.
  const votes = new Map<number, number>();
  for (const g of growths) votes.set(g, (votes.get(g) ?? 0) + 1);
  const [mostCommon] = [...votes].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const classes = kernel(i - 1)[1];
  expect(mostCommon !== undefined && classes !== undefined, "a 3x3 convolution and the Dense head");
  return { blocks, growthRate: mostCommon[0], stemFilters, inputChannels, classes };
}

/** What {@link loadKerasLayers} did. */
export interface KerasLayerLoad {
  /** `name` when every model layer had a same-named file layer, else `order`. */
  mapping: "name" | "order";
  /** Weights copied. */
  loaded: number;
  /** File layers no model layer took. */
  unused: string[];
}

/**
 * Copies the file's layers into `model`'s weight-carrying layers: by name when all of the model's names are
 * in the file, else pairwise in topological order. Each pair must be the same kind of layer with the same
 * weight names and shapes. All or nothing.
 *
 * @param model the model (e.g. `createDenseNet` with {@link inferKerasDenseNet}'s sizes).
 * @param layers the file's weight-carrying layers in topological order.
 * @param file the file, for messages.
 * @returns how layers were matched, weights loaded, file layers left over.
 * @throws {KerasModelImportError} naming the first mismatched pair, with both names and shapes.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tfl } from "./tf.ts";
 * const input = tfl.input({ shape: [4] });
 * const model = tfl.model({ inputs: input, outputs: tfl.layers.dense({ units: 2, name: "predictions" }).apply(input) as tfl.SymbolicTensor });
 * const w = (shape: number[]) => ({ shape, values: new Float32Array(shape.reduce((a, b) => a * b)).fill(0.5) });
 * const dense = { name: "dense_7", weights: new Map([["kernel", w([4, 2])], ["bias", w([2])]]) };
 * assert.deepEqual(loadKerasLayers(model, [dense], "m.h5"), { mapping: "order", loaded: 2, unused: [] });
 * assert.equal(model.getWeights()[1]?.dataSync()[0], 0.5);
 * const wrong = { name: "dense_7", weights: new Map([["kernel", w([4, 3])], ["bias", w([3])]]) };
 * assert.throws(() => loadKerasLayers(model, [wrong], "m.h5"), /model "predictions" kernel \[4,2\], file "dense_7" kernel \[4,3\]/);
 * ```
 */
export function loadKerasLayers(
  model: tfl.LayersModel,
  layers: readonly KerasSourceLayer[],
  file: string,
): KerasLayerLoad {
  const ours = model.layers.filter((l) => l.weights.length > 0);
  const byName = new Map(layers.map((l) => [l.name, l]));
  const mapping = ours.every((l) => byName.has(l.name)) ? "name" : "order";
  function fail(i: number, what: string, layer = ""): never {
    throw new KerasModelImportError(
      `Cannot import Keras model "${file}": weight-carrying layer ${i + 1} does not match ` +
        `(layers mapped by ${mapping === "name" ? "name" : "topological order and weight shapes"}): ${what}`,
      file,
      layer,
    );
  }
  const assignments: [tfl.LayerVariable, { shape: readonly number[]; values: Float32Array }][] = [];
  const used = new Set<KerasSourceLayer>();
  ours.forEach((layer, i) => {
    const source = mapping === "name" ? byName.get(layer.name) : layers[i];
    if (!source) fail(i, `model "${layer.name}" has no counterpart, the file has ${layers.length} layers`);
    used.add(source);
    const want = KIND_OF_CLASS[layer.getClassName()] ?? "other";
    if (want !== layerKind(source)) {
      fail(i, `model "${layer.name}" (${layer.getClassName()}) vs file ${describe(source)}`, source.name);
    }
    const shortName = (w: tfl.LayerVariable) => w.originalName.slice(w.originalName.lastIndexOf("/") + 1);
    const names = layer.weights.map(shortName);
    const extra = [...source.weights.keys()].filter((k) => !names.includes(k));
    for (const weight of layer.weights) {
      const name = shortName(weight);
      const found = source.weights.get(name);
      const shape = weight.shape as number[];
      const ours = `model "${layer.name}" ${name} [${shape}]`;
      if (!found) fail(i, `${ours}, file "${source.name}" has no ${name}`, source.name);
      if (found.shape.length !== shape.length || found.shape.some((d, k) => d !== shape[k])) {
        fail(i, `${ours}, file "${source.name}" ${name} [${found.shape}]`, source.name);
      }
      assignments.push([weight, found]);
    }
    if (extra.length) {
      fail(i, `file "${source.name}" has ${extra} that model "${layer.name}" lacks`, source.name);
    }
  });
  if (mapping === "order" && layers.length > ours.length) {
    fail(
      ours.length,
      `the file has ${layers.length} layers, the model ${ours.length}`,
      layers[ours.length]?.name,
    );
  }
  for (const [weight, found] of assignments) {
    tf.tidy(() => {
      weight.write(tf.tensor(found.values, found.shape as number[]));
    });
  }
  return {
    mapping,
    loaded: assignments.length,
    unused: layers.filter((l) => !used.has(l)).map((l) => l.name),
  };
}
