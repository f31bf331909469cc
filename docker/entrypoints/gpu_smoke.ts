/**
 * `gpu-smoke` in the training image: which tfjs backend loads and which devices it sees, as one JSON document
 * on stdout (`nvidia-smi -L` when present, the backend chosen and why the better ones were skipped).
 *
 * @module
 */
import { gpuSmoke } from "../../lib/docker/mod.ts";

const report = await gpuSmoke();
console.log(JSON.stringify(report, null, 2));
Deno.exit(report.backend ? 0 : 1);
