/**
 * The model step: DenseNet-121 in tfjs-layers, input normalisation, compute backends (with the gradient
 * kernels wasm lacks), saving/loading models and the model bundle, and Keras HDF5 weight import.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend } from "./mod.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * assert.equal(model.outputs[0].shape[1], 14);
 * ```
 *
 * @module
 */
export * from "./tf.ts";
export * from "./normalize.ts";
export * from "./densenet.ts";
export * from "./backend.ts";
export * from "./wasm_gradients.ts";
export * from "./io.ts";
export * from "./bundle_format.ts";
export * from "./bundle.ts";
export * from "./keras_import.ts";
export * from "./batch_norm_gradient.ts";
