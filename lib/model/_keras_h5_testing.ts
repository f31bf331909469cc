// Writes Keras HDF5 weight files in the test itself (h5wasm), in the layouts Keras 2 / tf.keras produce:
// `save_weights(".h5")`, `model.save(".h5")` (under `model_weights`), a nested backbone, chunked `layer_names`.
// Shared by the tests of keras_import, pretrained weights and training. Reads weights with dataSync: use it on
// the cpu or wasm backend.
import h5wasm from "h5wasm/node";
import { tfl } from "./tf.ts";

/** Call (and await) before {@link writeKerasH5}. */
export const h5Ready: Promise<unknown> = h5wasm.ready;

export interface KerasH5Layout {
  /** Put everything under `model_weights` (as `model.save("x.h5")` does). */
  fullModel?: boolean;
  /** Store the backbone as one nested-model layer of this name (head stays a top-level layer). */
  nested?: string;
  /** Layers left out of the file. */
  drop?: string[];
  /** Extra top-level layer with one weight nobody uses. */
  extra?: boolean;
  /** Split `layer_names` into `layer_names0`, `layer_names1` (as Keras does past 64 KB). */
  chunked?: boolean;
}

// deno-lint-ignore no-explicit-any
export function h5Group(parent: any, path: string): any {
  let g = parent;
  for (const part of path.split("/")) g = g.keys().includes(part) ? g.get(part) : g.create_group(part);
  return g;
}

/** A string-array attribute as h5py writes Keras' (fixed-length byte strings, `|S<n>`). */
// deno-lint-ignore no-explicit-any
export function h5Strings(g: any, name: string, values: string[]): void {
  if (values.length === 0) g.create_attribute(name, []);
  else g.create_attribute(name, values, [values.length], `S${Math.max(...values.map((v) => v.length))}`);
}

/** Writes `model`'s weights the way Keras 2 / tf.keras `save_weights(".h5")` lays them out. */
export function writeKerasH5(model: tfl.LayersModel, file: string, layout: KerasH5Layout = {}): void {
  const h5 = new h5wasm.File(file, "w");
  const root = layout.fullModel ? h5.create_group("model_weights") : h5;
  const layers = model.layers.filter((l) => !(layout.drop ?? []).includes(l.name));
  const write = (g: ReturnType<typeof h5Group>, weights: tfl.LayerVariable[]) => {
    h5Strings(g, "weight_names", weights.map((w) => `${w.originalName}:0`));
    for (const w of weights) {
      const values = w.read().dataSync() as Float32Array;
      h5Group(g, w.originalName.slice(0, w.originalName.lastIndexOf("/")))
        .create_dataset({
          name: `${w.originalName.split("/").pop()}:0`,
          data: values,
          shape: w.shape as number[],
        });
    }
  };
  const top = layout.nested ? layers.filter((l) => l.name === "predictions") : layers;
  const names = [
    ...(layout.nested ? [layout.nested] : []),
    ...top.map((l) => l.name),
    ...(layout.extra ? ["extra"] : []),
  ];
  if (layout.chunked) {
    h5Strings(root, "layer_names0", names.slice(0, 1));
    h5Strings(root, "layer_names1", names.slice(1));
  } else h5Strings(root, "layer_names", names);
  if (layout.nested) {
    write(
      h5Group(root, layout.nested),
      layers.filter((l) => l.name !== "predictions").flatMap((l) => l.weights),
    );
  }
  for (const l of top) write(h5Group(root, l.name), l.weights);
  if (layout.extra) {
    const g = h5Group(root, "extra");
    h5Strings(g, "weight_names", ["extra/kernel:0"]);
    h5Group(g, "extra").create_dataset({ name: "kernel:0", data: new Float32Array([1, 2]), shape: [2] });
  }
  h5.close();
}
