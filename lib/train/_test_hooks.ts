/**
 * Fault injection for the tests of lib/train/parallel.ts, out of the public API.
 *
 * @module
 */
let workerToKill = 0;

/**
 * Gradient worker `worker` (1-based) of the next step dies with an uncaught error instead of answering, as a
 * worker whose backend aborted would.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * killWorkerAtNextStep(2);
 * assert.equal(takeWorkerToKill(), 2);
 * assert.equal(takeWorkerToKill(), 0);
 * ```
 */
export function killWorkerAtNextStep(worker: number): void {
  workerToKill = worker;
}

/**
 * The worker {@linkcode killWorkerAtNextStep} named (0 for none), once: the pool takes it at each step.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(takeWorkerToKill(), 0);
 * ```
 */
export function takeWorkerToKill(): number {
  const worker = workerToKill;
  workerToKill = 0;
  return worker;
}
