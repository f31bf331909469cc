/**
 * Only for the training image build with `ONNX_CUDA=1`: makes `deno install --entrypoint` set up onnxruntime-node
 * and run its install script, which fetches ONNX Runtime's CUDA 12 provider libraries from NuGet. Never imported
 * by the project; the lib loads the package dynamically (lib/model/onnx_runtime.ts).
 *
 * @module
 */
export * from "npm:onnxruntime-node@1.30.0";
