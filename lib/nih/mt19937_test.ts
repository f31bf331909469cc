import assert from "node:assert/strict";
import { MersenneTwister } from "./mt19937.ts";

// Values printed by CPython 3.11: `import random; random.seed(S); ...`.
Deno.test("MersenneTwister matches CPython's random for small, large and negative seeds", () => {
  assert.equal(new MersenneTwister(0).random(), 0.8444218515250481);
  assert.equal(new MersenneTwister(42).random(), 0.6394267984578837);
  assert.equal(new MersenneTwister(-7).random(), 0.32383276483316237); // abs(seed) is used
  const big = new MersenneTwister(2n ** 40n + 5n); // two 32-bit key words
  assert.equal(big.getrandbits(40), 569101979940);
  assert.equal(big.getrandbits(53), 5978960701899433);
  assert.equal(new MersenneTwister(0).getrandbits(15), 27670);
  assert.equal(new MersenneTwister(0).getrandbits(0), 0);
});

Deno.test("shuffle matches random.shuffle, including across the 624-word regeneration", () => {
  const x = Array.from({ length: 10 }, (_, i) => i);
  new MersenneTwister(0).shuffle(x);
  assert.deepEqual(x, [7, 8, 1, 5, 3, 4, 2, 0, 9, 6]);
  const y = Array.from({ length: 2000 }, (_, i) => i);
  new MersenneTwister(0).shuffle(y);
  assert.deepEqual(y.slice(0, 5), [1748, 1361, 1671, 865, 1288]);
  assert.deepEqual(y.slice(-5), [861, 1823, 1552, 788, 1729]);
  const expected = python(
    "import random; random.seed(0); x = list(range(2000)); random.shuffle(x); print(x)",
  );
  if (expected !== undefined) assert.deepEqual(y, JSON.parse(expected));
  assert.deepEqual([...y].sort((a, b) => a - b), Array.from({ length: 2000 }, (_, i) => i));
});

Deno.test("random() agrees with python3 over a long stream when python3 is present", () => {
  const rng = new MersenneTwister(12345);
  const ours = Array.from({ length: 1500 }, () => rng.random());
  const theirs = python(
    "import random, json; random.seed(12345); print(json.dumps([random.random() for _ in range(1500)]))",
  );
  if (theirs !== undefined) assert.deepEqual(ours, JSON.parse(theirs));
  assert.ok(ours.every((v) => v >= 0 && v < 1));
  assert.equal(new Set(ours).size, 1500);
});

Deno.test("bad arguments are rejected", () => {
  assert.throws(() => new MersenneTwister(1.5), TypeError);
  assert.throws(() => new MersenneTwister(0).getrandbits(54), RangeError);
  assert.throws(() => new MersenneTwister(0).randbelow(-1), RangeError);
});

function python(code: string): string | undefined {
  try {
    const out = new Deno.Command("python3", { args: ["-c", code], stdout: "piped", stderr: "piped" })
      .outputSync();
    return out.success ? new TextDecoder().decode(out.stdout) : undefined;
  } catch {
    return undefined; // no python3 here: the hard-coded values above still apply
  }
}
