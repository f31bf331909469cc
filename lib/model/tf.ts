/**
 * The one place that loads TensorFlow.js for the project.
 *
 * `@tensorflow/tfjs-core`'s Node build registers neither the gradient functions nor the chained tensor
 * methods (`x.add(y)`); its per-file ESM build cannot be loaded by Deno (extensionless imports). The
 * `@tensorflow/tfjs` umbrella's Node bundle registers both into the shared global registries, so it is imported
 * here for that side effect only. Everything else should import `tf` and `tfl` from this module so there
 * is exactly one copy of tfjs-core in the process.
 *
 * @module
 */
import "@tensorflow/tfjs";
import * as tf from "@tensorflow/tfjs-core";
import * as tfl from "@tensorflow/tfjs-layers";
import "@tensorflow/tfjs-backend-cpu";
import { installLeanBackprop } from "./_lean_backprop.ts";

// Silences the "install tfjs-node" banner the cpu backend prints under Node-like runtimes.
tf.env().set("PROD", true);
// The backward pass frees each gradient and saved tensor once nothing needs it (see _lean_backprop.ts).
installLeanBackprop();

export { tf, tfl };
