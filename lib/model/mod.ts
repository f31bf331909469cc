/**
 * The model step: DenseNet-121 in tfjs-layers, input normalisation, compute backends (with the gradient
 * kernels wasm lacks), saving/loading models and the model bundle, Keras HDF5 weight import, and importing a
 * whole Keras DenseNet (keras.applications or keras-contrib, wrapped or not) as a bundle.
 *
 * - Import TensorFlow.js through `tf`/`tfl` from here (see `tf.ts`: it registers the gradients and chained
 *   ops that tfjs-core's Node build leaves out).
 * - Normalisation is a layer inside the model (`Normalize`, serialised as `CxrNormalize`): models take raw
 *   grey pixels 0..255, `[batch, size, size, 1]`; the same numbers are in the bundle metadata.
 * - Call `selectBackend()` before building models; it also installs the wasm gradient kernels and the lean
 *   BatchNorm gradient. On wasm, DenseNet-121 trains at 224x224 with batches of at most 15 (16 aborts: the
 *   4 GB wasm heap; measure with `bench/model_throughput.ts --max-batch wasm:224`), given the training step's
 *   lean forward pass (`trainingForward`) and backward pass (_lean_backprop.ts, installed by tf.ts): use 8 and
 *   accumulate gradients. The cpu backend is for tiny models only (minutes per 224 training image).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, selectBackend } from "./mod.ts";
 * await selectBackend("cpu");
 * const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
 * assert.equal(model.outputs[0]?.shape[1], 14);
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./tf.ts";
export * from "./normalize.ts";
export * from "./batch_normalization.ts";
export * from "./lean_forward.ts";
export * from "./densenet.ts";
export * from "./backend_report.ts";
export * from "./backend.ts";
export * from "./io.ts";
export * from "./bundle_format.ts";
export * from "./bundle.ts";
export * from "./bundle_update.ts";
export * from "./model_card.ts";
export * from "./keras_import.ts";
export * from "./keras_model_format.ts";
export * from "./keras_densenet.ts";
export * from "./keras_model_import.ts";
export * from "./predictor_contract.ts";
export * from "./predictor.ts";
export * from "./onnx_export.ts";
export * from "./onnx_training.ts";
export * from "./pretrained.ts";
