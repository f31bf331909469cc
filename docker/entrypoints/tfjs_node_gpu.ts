/**
 * Only for the training image build: makes `deno install --entrypoint` set up @tensorflow/tfjs-node-gpu and run
 * its install script (libtensorflow and the native addon). Never imported by the project; the lib loads the
 * package dynamically (lib/model/backend.ts).
 *
 * @module
 */
export * from "npm:@tensorflow/tfjs-node-gpu@4.22.0";
