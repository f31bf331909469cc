/**
 * The learning-rate schedule and the stopping rule, both driven by the validation loss once per epoch, with
 * plain-JSON state so a resumed run continues where it stopped.
 *
 * @module
 */

/** State of {@linkcode EarlyStopping}. */
export interface EarlyStoppingState {
  /** Best validation loss seen (Infinity before the first epoch). */
  best: number;
  /** Epochs since the last improvement. */
  wait: number;
}

/** State of {@linkcode ReduceLrOnPlateau}. */
export interface PlateauState extends EarlyStoppingState {
  /** Current learning rate. */
  lr: number;
}

/** Options of {@linkcode ReduceLrOnPlateau} (Keras' `ReduceLROnPlateau` defaults as CheXNet used them). */
export interface PlateauOptions {
  /** Multiplier applied on a plateau. @default 0.1 */
  factor?: number;
  /** Epochs without improvement before reducing. @default 3 */
  patience?: number;
  /** Lowest learning rate. @default 1e-6 */
  minLr?: number;
  /** Least decrease that counts as an improvement. @default 1e-4 */
  minDelta?: number;
}

/**
 * Multiplies the learning rate by `factor` after `patience` epochs without the validation loss improving.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const s = new ReduceLrOnPlateau(1e-3, { patience: 2 });
 * assert.equal(s.step(0.5), 1e-3);
 * assert.equal(s.step(0.6), 1e-3);
 * assert.ok(Math.abs(s.step(0.6) - 1e-4) < 1e-12);
 * assert.equal(s.state.wait, 0);
 * ```
 */
export class ReduceLrOnPlateau {
  #factor: number;
  #patience: number;
  #minLr: number;
  #minDelta: number;
  #state: PlateauState;

  /**
   * @param lr the starting learning rate.
   * @param options factor, patience, floor, least improvement.
   * @param state a saved state to continue from.
   * @throws {RangeError} for a factor outside (0, 1), a negative patience or a non-positive rate.
   */
  constructor(lr: number, options: PlateauOptions = {}, state?: PlateauState) {
    this.#factor = options.factor ?? 0.1;
    this.#patience = options.patience ?? 3;
    this.#minLr = options.minLr ?? 1e-6;
    this.#minDelta = options.minDelta ?? 1e-4;
    if (!(this.#factor > 0 && this.#factor < 1)) {
      throw new RangeError(`ReduceLrOnPlateau: factor must be in (0, 1), got ${this.#factor}`);
    }
    if (!Number.isInteger(this.#patience) || this.#patience < 0) {
      throw new RangeError(`ReduceLrOnPlateau: patience must be an integer >= 0, got ${this.#patience}`);
    }
    if (!(lr > 0)) throw new RangeError(`ReduceLrOnPlateau: lr must be positive, got ${lr}`);
    this.#state = state ? { ...state } : { lr, best: Infinity, wait: 0 };
  }

  /** The state to save. */
  get state(): PlateauState {
    return { ...this.#state };
  }

  /** Records an epoch's validation loss; returns the learning rate for the next epoch. */
  step(valLoss: number): number {
    const s = this.#state;
    if (valLoss < s.best - this.#minDelta) {
      s.best = valLoss;
      s.wait = 0;
    } else if (++s.wait >= this.#patience) {
      s.lr = Math.max(s.lr * this.#factor, this.#minLr);
      s.wait = 0;
    }
    return s.lr;
  }
}

/**
 * Stops training after `patience` epochs without the validation loss improving.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const stop = new EarlyStopping(2);
 * assert.deepEqual([0.5, 0.4, 0.45, 0.41].map((v) => stop.step(v)), [false, false, false, true]);
 * ```
 */
export class EarlyStopping {
  #patience: number;
  #state: EarlyStoppingState;

  /**
   * @param patience epochs without improvement before stopping.
   * @param state a saved state to continue from.
   * @throws {RangeError} for a patience below 1.
   */
  constructor(patience: number, state?: EarlyStoppingState) {
    if (!Number.isInteger(patience) || patience < 1) {
      throw new RangeError(`EarlyStopping: patience must be a positive integer, got ${patience}`);
    }
    this.#patience = patience;
    this.#state = state ? { ...state } : { best: Infinity, wait: 0 };
  }

  /** The state to save. */
  get state(): EarlyStoppingState {
    return { ...this.#state };
  }

  /** Records an epoch's validation loss; returns whether to stop. */
  step(valLoss: number): boolean {
    const s = this.#state;
    if (valLoss < s.best) {
      s.best = valLoss;
      s.wait = 0;
      return false;
    }
    return ++s.wait >= this.#patience;
  }
}
