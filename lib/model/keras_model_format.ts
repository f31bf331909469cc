/**
 * The `model_config` of a Keras HDF5 file (`model.save("x.h5")` in Keras 2 and tf.keras): its wire type, the one
 * parse function into {@link KerasModelInfo}, and {@link unwrapKerasModel}, which finds the real model inside
 * a wrapper such as `keras.utils.multi_gpu_model`'s (an outer model of an Input, Lambda slices, the nested
 * model and a Concatenate).
 *
 * @module
 */
import { jsonErrorOffset, lineColumn } from "../json_position.ts";
import { CxrSyntaxError } from "../errors.ts";

/** One entry of `config.layers` in a Keras functional or Sequential model config (wire type). */
export interface KerasLayerJson {
  /** Keras class, e.g. `Conv2D`, `Model`, `Functional`, `Lambda`. */
  class_name: string;
  /** Layer name (functional models put it here, Sequential ones in `config.name`). */
  name?: string;
  /** The layer's own config; for a nested model, its model config. */
  config: Record<string, unknown> | KerasLayerJson[];
  /** Which layers feed it. */
  inbound_nodes?: unknown[];
}

/** The root `model_config` attribute (wire type). */
export interface KerasModelJson {
  /** `Model`, `Functional` or `Sequential`. */
  class_name: string;
  /** Name and layers; a bare layer list in Keras 2.0's Sequential. */
  config: { name?: string; layers: KerasLayerJson[] } | KerasLayerJson[];
}

/** A layer of a parsed Keras model config. */
export interface KerasLayerInfo {
  /** Its name. */
  name: string;
  /** Its Keras class. */
  className: string;
  /** Its config (snake_case keys as Keras writes them). */
  config: Record<string, unknown>;
  /** For a nested model: the model. */
  model?: KerasModelInfo;
}

/** A parsed Keras model config. */
export interface KerasModelInfo {
  /** The model's name. */
  name: string;
  /** Its layers in the config's order (Keras writes them in topological order). */
  layers: KerasLayerInfo[];
}

/** Keras classes that are models (a layer of one of these classes nests a model). */
export const KERAS_MODEL_CLASSES: readonly string[] = Object.freeze(["Model", "Functional", "Sequential"]);

/** Keras classes that carry weights, besides nested models. */
export const KERAS_WEIGHTED_CLASSES: readonly string[] = Object.freeze([
  "Conv2D",
  "Convolution2D",
  "SeparableConv2D",
  "DepthwiseConv2D",
  "Conv2DTranspose",
  "BatchNormalization",
  "Dense",
  "Embedding",
]);

/**
 * A `model_config` that is not JSON or not a Keras model; `line`/`column` (1-based) point at the problem.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new KerasConfigSyntaxError("bad", "m.h5", 1, 2);
 * assert.ok(e instanceof SyntaxError);
 * assert.equal(e.file, "m.h5");
 * ```
 */
export class KerasConfigSyntaxError extends CxrSyntaxError {}

/**
 * Parses a Keras `model_config` text (functional `Model`/`Functional` or `Sequential`, nested models included).
 *
 * @param text the attribute's JSON text.
 * @param file the HDF5 file, for messages.
 * @throws {KerasConfigSyntaxError} naming the file, line and column of invalid JSON or of a layer that is not a
 *   `{class_name, config}` object.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const model = parseKerasModelConfig(
 *   '{"class_name": "Model", "config": {"name": "m", "layers": [' +
 *     '{"name": "d", "class_name": "Dense", "config": {"units": 2}}]}}',
 *   "m.h5",
 * );
 * assert.deepEqual(model.layers.map((l) => l.className), ["Dense"]);
 * assert.throws(() => parseKerasModelConfig('{"class_name": "Dense"}', "m.h5"), /not a model: class Dense/);
 * ```
 */
export function parseKerasModelConfig(text: string, file: string): KerasModelInfo {
  const fail = (at: number, what: string, cause?: unknown): never => {
    const { line, column } = lineColumn(text, Math.max(0, at));
    throw new KerasConfigSyntaxError(
      `Cannot read the model_config of "${file}" at line ${line}, column ${column}: ${what}`,
      file,
      line,
      column,
      { cause },
    );
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(jsonErrorOffset(text), (e as Error).message, e);
  }
  const model = (json: unknown, where: string): KerasModelInfo => {
    const m = json as KerasModelJson;
    if (!m || typeof m !== "object" || !KERAS_MODEL_CLASSES.includes(m.class_name)) {
      return fail(text.indexOf(where), `not a model: class ${(m as KerasModelJson)?.class_name ?? typeof m}`);
    }
    const config = m.config;
    const list = Array.isArray(config) ? config : config?.layers;
    if (!Array.isArray(list)) return fail(text.indexOf(where), `model ${where} has no layers list`);
    const name = Array.isArray(config) ? where : String(config.name ?? where);
    return { name, layers: list.map((l, i) => layer(l, `${name}.layers[${i}]`)) };
  };
  const layer = (json: KerasLayerJson, where: string): KerasLayerInfo => {
    if (!json || typeof json !== "object" || typeof json.class_name !== "string") {
      return fail(text.indexOf(JSON.stringify(json)), `${where} is not a {class_name, config} object`);
    }
    const config = (json.config ?? {}) as Record<string, unknown>;
    const name = String(json.name ?? (config as { name?: string }).name ?? where);
    const out: KerasLayerInfo = { name, className: json.class_name, config };
    if (KERAS_MODEL_CLASSES.includes(json.class_name)) {
      out.model = model({ class_name: json.class_name, config: json.config }, name);
      out.model.name = name;
    }
    return out;
  };
  return model(raw, "model_config");
}

/**
 * Finds the real model inside wrappers: while the model's only weight-carrying layer is a nested model (as in
 * `multi_gpu_model`'s Input, Lambda slices, nested model, Concatenate), descends into it.
 *
 * @param model a parsed model config.
 * @returns the innermost model and the names of the nested-model layers descended through.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const inner = { name: "model_1", layers: [{ name: "dense_1", className: "Dense", config: {} }] };
 * const outer = {
 *   name: "model_2",
 *   layers: [
 *     { name: "input_1", className: "InputLayer", config: {} },
 *     { name: "lambda_1", className: "Lambda", config: {} },
 *     { name: "model_1", className: "Model", config: {}, model: inner },
 *     { name: "dense_1", className: "Concatenate", config: {} },
 *   ],
 * };
 * assert.deepEqual(unwrapKerasModel(outer), { model: inner, path: ["model_1"] });
 * ```
 */
export function unwrapKerasModel(model: KerasModelInfo): { model: KerasModelInfo; path: string[] } {
  const path: string[] = [];
  for (;;) {
    const [only, ...others] = model.layers.filter((l) =>
      l.model || KERAS_WEIGHTED_CLASSES.includes(l.className)
    );
    if (others.length > 0 || !only?.model) return { model, path };
    path.push(only.name);
    model = only.model;
  }
}

/**
 * Every layer of `model` in order, nested models expanded in place (the nested-model layers themselves left out).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const inner = { name: "b", layers: [{ name: "conv", className: "Conv2D", config: {} }] };
 * const outer = {
 *   name: "m",
 *   layers: [{ name: "b", className: "Functional", config: {}, model: inner }, {
 *     name: "predictions",
 *     className: "Dense",
 *     config: {},
 *   }],
 * };
 * assert.deepEqual(flattenKerasModel(outer).map((l) => l.name), ["conv", "predictions"]);
 * ```
 */
export function flattenKerasModel(model: KerasModelInfo): KerasLayerInfo[] {
  return model.layers.flatMap((l) => l.model ? flattenKerasModel(l.model) : [l]);
}
