// Reading the structure of a Keras 2 / tf.keras HDF5 file with h5wasm: the root `model_config` of a whole-model
// file (`model.save("x.h5")`), the `layer_names` of the weights (at the root, or under `model_weights`), and
// every weight-carrying layer in file order, nested models expanded. Private to lib/model (used by
// keras_import.ts and keras_model_import.ts). Call `await h5wasm.ready` first.
import h5wasm from "h5wasm/node";

// deno-lint-ignore no-explicit-any
type H5Group = any;

/** One weight of a layer. */
export interface KerasH5Weight {
  /** The name stored in `weight_names`, without `:0` (e.g. `conv1/conv/kernel`). */
  name: string;
  /** Dataset shape. */
  shape: number[];
  /** Values, float32. */
  values: Float32Array;
}

/** A weight-carrying layer of the file. */
export interface KerasH5Layer {
  /** The layer's name (for a layer inside a nested model: its weights' common prefix). */
  name: string;
  /** The nested-model group it was stored in, or `null` for a top-level layer. */
  nestedIn: string | null;
  /** Weights by their last name part: `kernel`, `bias`, `gamma`, `beta`, `moving_mean`, `moving_variance`. */
  weights: Map<string, KerasH5Weight>;
}

/** What {@link readKerasH5} found. */
export interface KerasH5Contents {
  /** `whole-model` when the file has a `model_weights` group (`model.save`), else `weights-only`. */
  layout: "whole-model" | "weights-only";
  /** The root `model_config` attribute's text, or `null`. */
  modelConfig: string | null;
  /** The root `keras_version` attribute, or `null`. */
  kerasVersion: string | null;
  /** Top-level `layer_names`, in order (weightless layers included). */
  layerNames: string[];
  /** Weight-carrying layers in file order; a nested model's layers in the order its weights first appear. */
  layers: KerasH5Layer[];
  /** Top-level groups that held a nested model's weights. */
  nested: string[];
  /** Every top-level layer group's weights, in the file's order. */
  groups: Map<string, KerasH5Weight[]>;
}

function text(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return null;
}

/** A string or string-array attribute, joining Keras' `name0`, `name1`, ... chunks (attributes over 64 KB). */
function readStrings(group: H5Group, name: string): string[] {
  const read = (attr: { value: unknown } | undefined) => {
    const v = attr?.value;
    if (typeof v === "string") return [v];
    return Array.isArray(v) ? v.map(String) : [];
  };
  const attrs = group.attrs as Record<string, { value: unknown }>;
  if (attrs[name]) return read(attrs[name]);
  const out: string[] = [];
  for (let i = 0; attrs[`${name}${i}`]; i++) out.push(...read(attrs[`${name}${i}`]));
  return out;
}

const suffixOf = (name: string) => name.slice(name.lastIndexOf("/") + 1);
const prefixOf = (name: string) => name.includes("/") ? name.slice(0, name.lastIndexOf("/")) : "";

/**
 * Reads a Keras HDF5 file's structure and weights. Throws a plain `Error` saying what is wrong (the callers wrap
 * it with the file name): not HDF5, no `layer_names`, a listed weight without its dataset (unless `skipMissing`:
 * then that weight is left out).
 */
export function readKerasH5(file: string, skipMissing = false): KerasH5Contents {
  const h5 = new h5wasm.File(file, "r");
  try {
    const whole = h5.keys().includes("model_weights");
    const root: H5Group = whole ? h5.get("model_weights") : h5;
    const attrs = h5.attrs as Record<string, { value: unknown }>;
    const layerNames = readStrings(root, "layer_names");
    if (layerNames.length === 0) {
      throw new Error(`no layer_names attribute${whole ? " in model_weights" : ""} (not a Keras HDF5 file)`);
    }
    const layers: KerasH5Layer[] = [];
    const nested: string[] = [];
    const groups = new Map<string, KerasH5Weight[]>();
    for (const layerName of layerNames) {
      const group = root.get(layerName);
      if (!group) continue;
      const weights: KerasH5Weight[] = [];
      for (const stored of readStrings(group, "weight_names")) {
        const dataset = group.get(stored);
        if (!dataset && skipMissing) continue;
        if (!dataset) {
          throw new Error(`layer "${layerName}" lists weight "${stored}" but has no such dataset`);
        }
        weights.push({
          name: stored.replace(/:\d+$/, ""),
          shape: [...(dataset.shape ?? [])],
          values: Float32Array.from(dataset.value as ArrayLike<number>),
        });
      }
      groups.set(layerName, weights);
      if (weights.length === 0) continue;
      const prefixes = [...new Set(weights.map((w) => prefixOf(w.name)))];
      if (prefixes.length === 1) {
        layers.push({
          name: layerName,
          nestedIn: null,
          weights: new Map(weights.map((w) => [suffixOf(w.name), w])),
        });
        continue;
      }
      nested.push(layerName);
      for (const prefix of prefixes) {
        const own = weights.filter((w) => prefixOf(w.name) === prefix);
        layers.push({
          name: prefix,
          nestedIn: layerName,
          weights: new Map(own.map((w) => [suffixOf(w.name), w])),
        });
      }
    }
    return {
      layout: whole ? "whole-model" : "weights-only",
      modelConfig: text(attrs.model_config?.value),
      kerasVersion: text(attrs.keras_version?.value),
      layerNames,
      layers,
      nested,
      groups,
    };
  } finally {
    h5.close();
  }
}
