/**
 * CPython's `random` module generator: Mersenne Twister MT19937 with CPython's seeding, `getrandbits`,
 * `_randbelow` and `shuffle`, ported exactly so that a split drawn in Python (`random.seed(0);
 * random.shuffle(patients)`) is drawn identically here.
 *
 * @module
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

/**
 * A Mersenne Twister seeded like CPython's `random.seed(n)` for an integer `n`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * // python3 -c 'import random; random.seed(0); x = list(range(10)); random.shuffle(x); print(x)'
 * const rng = new MersenneTwister(0);
 * const x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
 * rng.shuffle(x);
 * assert.deepEqual(x, [7, 8, 1, 5, 3, 4, 2, 0, 9, 6]);
 * // python3 -c 'import random; random.seed(0); print(random.random())'
 * assert.equal(new MersenneTwister(0).random(), 0.8444218515250481);
 * ```
 */
export class MersenneTwister {
  #mt = new Uint32Array(N);
  #index = N + 1;

  /**
   * Seeds like CPython's `random.seed(seed)` for an int: the 32-bit words of `abs(seed)`, least significant
   * first, go through `init_by_array`.
   *
   * @param seed A non-fractional number (safe integer) or a bigint of any size.
   * @throws {TypeError} If `seed` is not an integer.
   */
  constructor(seed: number | bigint) {
    if (typeof seed === "number" && !Number.isSafeInteger(seed)) {
      throw new TypeError(`MersenneTwister: seed must be a safe integer or a bigint, got ${seed}`);
    }
    if (typeof seed !== "number" && typeof seed !== "bigint") {
      throw new TypeError(`MersenneTwister: seed must be a number or a bigint, got ${typeof seed}`);
    }
    let n = BigInt(seed);
    if (n < 0n) n = -n;
    const key: number[] = [];
    while (n > 0n) {
      key.push(Number(n & 0xffffffffn));
      n >>= 32n;
    }
    if (key.length === 0) key.push(0);
    this.#initByArray(key);
  }

  #initGenrand(s: number): void {
    const mt = this.#mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.#index = N;
  }

  #initByArray(key: readonly number[]): void {
    const mt = this.#mt;
    this.#initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1664525)) + key[j]! + j) >>> 0;
      j = (j + 1) % key.length;
      if (++i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      if (++i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  /** The next 32-bit output (CPython's `genrand_uint32`). */
  nextUint32(): number {
    const mt = this.#mt;
    if (this.#index >= N) {
      // The twist, with the reference's three loops (kk + M past the end, the last word) as one modulo N.
      for (let kk = 0; kk < N; kk++) {
        const y = (mt[kk]! & UPPER_MASK) | (mt[(kk + 1) % N]! & LOWER_MASK);
        mt[kk] = mt[(kk + M) % N]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
      }
      this.#index = 0;
    }
    let y = mt[this.#index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /**
   * A float in [0, 1) with 53 random bits, as CPython's `random.random()`.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * const r = new MersenneTwister(42).random();
   * assert.equal(r, 0.6394267984578837); // python3: random.seed(42); random.random()
   * ```
   */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /**
   * `k` random bits as a non-negative integer, as CPython's `random.getrandbits(k)` (32-bit words, least
   * significant first; the last word keeps its top bits).
   *
   * @param k Number of bits, 0 to 53.
   * @throws {RangeError} If `k` is not an integer in 0..53.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * assert.equal(new MersenneTwister(0).getrandbits(15), 27670); // python3: random.seed(0); random.getrandbits(15)
   * ```
   */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k > 53) {
      throw new RangeError(`getrandbits: k must be an integer in 0..53, got ${k}`);
    }
    if (k === 0) return 0;
    if (k <= 32) return this.nextUint32() >>> (32 - k);
    const low = this.nextUint32();
    const high = this.nextUint32() >>> (64 - k);
    return high * 4294967296 + low;
  }

  /**
   * A random integer in [0, n), as CPython's `_randbelow_with_getrandbits`: draw `n.bit_length()` bits until
   * the value is below `n`.
   *
   * @param n Upper bound, a positive safe integer below 2**53.
   * @throws {RangeError} If `n` is not a positive integer.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * const rng = new MersenneTwister(0);
   * assert.ok(rng.randbelow(10) < 10);
   * assert.throws(() => rng.randbelow(0), RangeError);
   * ```
   */
  randbelow(n: number): number {
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new RangeError(`randbelow: n must be a positive integer, got ${n}`);
    }
    const k = n.toString(2).length;
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /**
   * Shuffles `items` in place, as CPython's `random.shuffle(x)`: for i from len-1 down to 1, swap x[i] with
   * x[randbelow(i + 1)].
   *
   * @returns The same array, shuffled.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * const x = ["a", "b", "c"];
   * assert.equal(new MersenneTwister(1).shuffle(x), x);
   * assert.deepEqual([...x].sort(), ["a", "b", "c"]);
   * ```
   */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}
