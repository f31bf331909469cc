/**
 * Bounded concurrency with a bounded queue: at most `maxConcurrent` tasks run, at most `maxQueue` wait;
 * a task arriving at a full queue is refused at once (the service answers 503 `busy`), and a waiting task
 * whose signal aborts leaves the queue without running.
 *
 * @module
 */

/** The queue was full; the service turns this into 503 `busy` with `Retry-After`. */
export class QueueFullError extends Error {
  constructor(running: number, queued: number) {
    super(`The service is busy: ${running} requests running and ${queued} queued (the queue is full)`);
    this.name = "QueueFullError";
  }
}

/** Options of {@linkcode ConcurrencyLimiter}. */
export interface ConcurrencyLimiterOptions {
  /** Tasks running at once. @default 2 */
  maxConcurrent?: number;
  /** Tasks waiting for a slot. @default 16 */
  maxQueue?: number;
}

/**
 * Runs async tasks with bounded concurrency and a bounded wait queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const limiter = new ConcurrencyLimiter({ maxConcurrent: 1, maxQueue: 1 });
 * let release = () => {};
 * const first = limiter.run(() => new Promise<string>((r) => release = () => r("a")));
 * const second = limiter.run(() => Promise.resolve("b"));
 * assert.deepEqual([limiter.running, limiter.queued], [1, 1]);
 * await assert.rejects(limiter.run(() => Promise.resolve("c")), QueueFullError);
 * release();
 * assert.deepEqual(await Promise.all([first, second]), ["a", "b"]);
 * ```
 */
export class ConcurrencyLimiter {
  /** Tasks running at once. */
  readonly maxConcurrent: number;
  /** Tasks that may wait. */
  readonly maxQueue: number;
  #running = 0;
  #queue: (() => void)[] = [];

  constructor(options: ConcurrencyLimiterOptions = {}) {
    this.maxConcurrent = options.maxConcurrent ?? 2;
    this.maxQueue = options.maxQueue ?? 16;
    if (!Number.isInteger(this.maxConcurrent) || this.maxConcurrent < 1) {
      throw new RangeError(
        `ConcurrencyLimiter: maxConcurrent must be an integer >= 1, got ${this.maxConcurrent}`,
      );
    }
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0) {
      throw new RangeError(`ConcurrencyLimiter: maxQueue must be an integer >= 0, got ${this.maxQueue}`);
    }
  }

  /** Tasks running now. */
  get running(): number {
    return this.#running;
  }

  /** Tasks waiting now. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Runs `task` when a slot is free.
   *
   * @param task the work; its slot is held until its promise settles.
   * @param signal aborting it while the task waits removes it from the queue (rejects with the reason).
   * @returns the task's result.
   * @throws {QueueFullError} at once when every slot is taken and the queue is full.
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.#running >= this.maxConcurrent) {
      if (this.#queue.length >= this.maxQueue) throw new QueueFullError(this.#running, this.#queue.length);
      await new Promise<void>((resolve, reject) => {
        const waiter = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.#queue.indexOf(waiter);
          if (i >= 0) this.#queue.splice(i, 1);
          reject(signal!.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.#queue.push(waiter);
      });
    } else {
      this.#running++;
    }
    try {
      return await task();
    } finally {
      const next = this.#queue.shift();
      if (next) next(); // the slot passes on: #running stays the same
      else this.#running--;
    }
  }
}
