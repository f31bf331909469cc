/**
 * The order notebooks run in when a run executes several: where each one's inputs exist. Notebook 02 bakes the
 * model notebook 03 trains into the scoring image, so on a machine that trains locally (the demo, `deno task
 * report`) it runs after 03 and 04; on the GPU VM a person builds the training image first and trains in it.
 *
 * @module
 */
import { basename } from "node:path";

/** Notebook names (without `.ipynb`) in run order. */
export const NOTEBOOK_RUN_ORDER: readonly string[] = [
  "00_setup_vm",
  "01_fetch_data",
  "03_train",
  "04_score",
  "02_build_image",
  "05_deploy",
];

/**
 * Sorts notebook paths into {@link NOTEBOOK_RUN_ORDER}; notebooks it does not name follow, in name order.
 *
 * @returns A new array.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(
 *   inRunOrder(["nb/02_build_image.ipynb", "nb/99_extra.ipynb", "nb/03_train.ipynb", "nb/00_setup_vm.ipynb"]),
 *   ["nb/00_setup_vm.ipynb", "nb/03_train.ipynb", "nb/02_build_image.ipynb", "nb/99_extra.ipynb"],
 * );
 * ```
 */
export function inRunOrder(paths: readonly string[]): string[] {
  const rank = (p: string) => {
    const i = NOTEBOOK_RUN_ORDER.indexOf(basename(p).replace(/\.ipynb$/, ""));
    return i < 0 ? NOTEBOOK_RUN_ORDER.length : i;
  };
  return [...paths].sort((a, b) => rank(a) - rank(b) || basename(a).localeCompare(basename(b)));
}
