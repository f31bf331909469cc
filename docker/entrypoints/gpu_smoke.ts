/**
 * `gpu-smoke` in the training image: which tfjs backend loads and which devices it sees, as one JSON document
 * on stdout (`nvidia-smi -L` when present, the backend chosen and why the better ones were skipped), and ONNX
 * Runtime's cuda provider checked with one training step per GPU; exits 1 when such a step fails.
 *
 * @module
 */
import { gpuSmoke } from "../../lib/docker/mod.ts";

const report = await gpuSmoke();
console.log(JSON.stringify(report, null, 2));
Deno.exit(report.backend && report.onnx.steps.every((s) => s.ok) ? 0 : 1);
