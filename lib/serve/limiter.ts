/**
 * Admission control: bounded concurrency with a bounded queue ({@linkcode ConcurrencyLimiter}) and a byte
 * budget across everything in flight ({@linkcode ByteBudget}). Both refuse at once when full (a waiting task
 * whose signal aborts leaves the queue without running), and the service answers either refusal 503 `busy`
 * with `Retry-After`. The queue bounds how many requests wait; the byte budget, how much memory they hold.
 *
 * @module
 */
import { ServeError } from "./errors.ts";

/** The queue was full; the service turns this into 503 `busy` with `Retry-After`. */
export class QueueFullError extends ServeError {
  constructor(readonly running: number, readonly queued: number, options?: ErrorOptions) {
    super(
      `The service is busy: ${running} requests running and ${queued} queued (the queue is full)`,
      options,
    );
  }
}

/** Options of {@linkcode ConcurrencyLimiter}. */
export interface ConcurrencyLimiterOptions {
  /** Tasks running at once. @default 2 */
  maxConcurrent?: number | undefined;
  /** Tasks waiting for a slot. @default 16 */
  maxQueue?: number | undefined;
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
 * assert.equal(limiter.full, true);
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

  /**
   * A limiter with no task running.
   *
   * @throws {RangeError} for a limit that is not an integer in range.
   */
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

  /** Whether {@linkcode ConcurrencyLimiter.run} would refuse a task now (every slot taken, the queue full). */
  get full(): boolean {
    return this.#running >= this.maxConcurrent && this.#queue.length >= this.maxQueue;
  }

  /**
   * Runs `task` when a slot is free.
   *
   * @param task the work; its slot is held until its promise settles.
   * @param signal aborting it while the task waits removes it from the queue (rejects with the reason).
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

/** A reservation did not fit the byte budget; the service turns this into 503 `busy` with `Retry-After`. */
export class BudgetFullError extends ServeError {
  constructor(readonly requested: number, used: number, limit: number, options?: ErrorOptions) {
    super(
      `The service is busy: ${mib(used)} of request bodies are in flight and this one needs ${
        mib(requested)
      }; the limit is ${mib(limit)}`,
      options,
    );
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Bytes held from a {@linkcode ByteBudget}; `release()` gives them back (once; later calls do nothing). */
export interface ByteReservation {
  /** Bytes held. */
  readonly bytes: number;
  /** Gives the bytes back. */
  release(): void;
}

/**
 * A budget of bytes shared by everything in flight: a request reserves what its body may take before it is
 * read (its `Content-Length`, or the body limit when it has none) and releases it once its work is done, so
 * memory held by bodies stays bounded whatever arrives at once. A reservation that does not fit is refused at
 * once ({@linkcode BudgetFullError}), never queued: a queue of waiting uploads would hold their sockets too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const budget = new ByteBudget(100);
 * const a = budget.reserve(60);
 * assert.throws(() => budget.reserve(50), BudgetFullError);
 * const b = budget.reserve(40);
 * assert.equal(budget.used, 100);
 * a.release();
 * a.release(); // once only
 * assert.equal(budget.used, 40);
 * b.release();
 * assert.throws(() => budget.reserve(101), /needs 0\.0 MiB; the limit is 0\.0 MiB/);
 * ```
 */
export class ByteBudget {
  /** Bytes that may be reserved at once. */
  readonly limit: number;
  #used = 0;

  /**
   * A budget of `limit` bytes, none reserved.
   *
   * @param limit bytes that may be reserved at once (an integer >= 1).
   * @throws {RangeError} for another limit.
   */
  constructor(limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`ByteBudget: limit must be an integer >= 1, got ${limit}`);
    }
    this.limit = limit;
  }

  /** Bytes reserved now. */
  get used(): number {
    return this.#used;
  }

  /**
   * Reserves `bytes` at once, or refuses.
   *
   * @param bytes bytes to hold (an integer >= 0).
   * @returns the reservation; release it when the bytes are no longer held.
   * @throws {BudgetFullError} when `bytes` does not fit beside what is reserved; {@linkcode RangeError} for a
   * negative or non-integer count.
   */
  reserve(bytes: number): ByteReservation {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`ByteBudget.reserve: bytes must be an integer >= 0, got ${bytes}`);
    }
    if (this.#used + bytes > this.limit) throw new BudgetFullError(bytes, this.#used, this.limit);
    this.#used += bytes;
    let held = true;
    return {
      bytes,
      release: () => {
        if (!held) return;
        held = false;
        this.#used -= bytes;
      },
    };
  }
}
