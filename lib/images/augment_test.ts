import assert from "node:assert/strict";
import { augment, createRng, randomTransform, warpImage } from "./augment.ts";

/** A 9×9 image with distinct values everywhere. */
function pattern(size: number): Uint8Array {
  return new Uint8Array(size * size).map((_, i) => 1 + ((i * 37) % 250));
}

Deno.test("flipping twice is the identity, and one flip mirrors every row", () => {
  const img = pattern(9);
  const flip = { flip: true, angle: 0, scale: 1 };
  const once = warpImage(img, 9, flip);
  for (let y = 0; y < 9; y++) {
    assert.deepEqual([...once.subarray(y * 9, y * 9 + 9)], [...img.subarray(y * 9, y * 9 + 9)].reverse());
  }
  assert.deepEqual(warpImage(once, 9, flip), img);
});

Deno.test("rotation 0 and scale 1 copy the image exactly, into the given buffer", () => {
  const img = pattern(224);
  const out = new Uint8Array(224 * 224).fill(7);
  assert.equal(warpImage(img, 224, { flip: false, angle: 0, scale: 1 }, out), out);
  assert.deepEqual(out, img);
  assert.deepEqual(
    augment(img, 224, createRng(3), { flipProbability: 0, maxRotation: 0, scale: [1, 1] }),
    img,
  );
});

Deno.test("a 90 degree rotation turns a bar right of centre into a bar above it (counter-clockwise)", () => {
  const size = 9;
  const img = new Uint8Array(size * size);
  for (let x = 5; x < 9; x++) img[4 * size + x] = 200; // row 4, right half
  const out = warpImage(img, size, { flip: false, angle: 90, scale: 1 });
  const expected = new Uint8Array(size * size);
  for (let y = 0; y < 4; y++) expected[y * size + 4] = 200; // column 4, top half
  assert.deepEqual(out, expected);
  // -90 puts it below, 180 on the left.
  const down = warpImage(img, size, { flip: false, angle: -90, scale: 1 });
  assert.deepEqual([5, 6, 7, 8].map((y) => down[y * size + 4]), [200, 200, 200, 200]);
  const left = warpImage(img, size, { flip: false, angle: 180, scale: 1 });
  assert.deepEqual([...left.subarray(4 * size, 4 * size + 9)], [200, 200, 200, 200, 0, 0, 0, 0, 0]);
});

Deno.test("a 45 degree rotation moves a pixel along the diagonal and fills the corners with 0", () => {
  const size = 21, c = 10;
  const img = new Uint8Array(size * size).fill(100);
  img[c * size + c + 8] = 255; // 8 px right of centre
  const out = warpImage(img, size, { flip: false, angle: 45, scale: 1 });
  // Counter-clockwise 45°: (8, 0) -> (8cos45, -8sin45) = (5.66, -5.66): the bright spot is up and right.
  let best = 0, bx = 0, by = 0;
  out.forEach((v, i) => {
    if (v > best) best = v, bx = i % size, by = Math.floor(i / size);
  });
  assert.deepEqual([bx - c, by - c].map((d) => Math.round(Math.abs(d))), [6, 6]);
  assert.ok(bx > c && by < c);
  assert.equal(out[0], 0);
  assert.equal(out[size * size - 1], 0);
  assert.equal(out[c * size + c], 100);
});

Deno.test("scale 2 magnifies about the centre; scale 0.5 shrinks and leaves a 0 border", () => {
  const size = 9, c = 4;
  const img = new Uint8Array(size * size);
  for (let x = 0; x < size; x++) img[c * size + x] = x * 20;
  const big = warpImage(img, size, { flip: false, angle: 0, scale: 2 });
  // Output x samples source c + (x - c) / 2.
  assert.deepEqual([...big.subarray(c * size, c * size + size)], [40, 50, 60, 70, 80, 90, 100, 110, 120]);
  const small = warpImage(img, size, { flip: false, angle: 0, scale: 0.5 });
  assert.equal(small[c * size], 0);
  assert.equal(small[c * size + c], 80);
  assert.equal(small[c * size + c + 2], 160);
});

Deno.test("augmentation is fixed by the seed and varies between draws", () => {
  const img = pattern(64);
  const run = (seed: number) => {
    const rng = createRng(seed);
    const out = new Uint8Array(64 * 64);
    return Array.from({ length: 4 }, () => augment(img, 64, rng, { out }).slice());
  };
  assert.deepEqual(run(11), run(11));
  assert.notDeepEqual(run(11), run(12));
  const [a, b] = run(11);
  assert.notDeepEqual(a, b);
});

Deno.test("random transforms stay in the seed's ranges and flip about half the time", () => {
  const rng = createRng(5);
  let flips = 0;
  for (let i = 0; i < 2000; i++) {
    const t = randomTransform(rng);
    assert.ok(Math.abs(t.angle) <= 15, `angle ${t.angle}`);
    assert.ok(t.scale >= 0.8 && t.scale <= 1.1, `scale ${t.scale}`);
    if (t.flip) flips++;
  }
  assert.ok(flips > 900 && flips < 1100, `${flips} flips of 2000`);
  assert.throws(() => randomTransform(rng, { scale: [1.2, 1.1] }), RangeError);
  assert.throws(() => randomTransform(rng, { flipProbability: 2 }), RangeError);
});

Deno.test("bad arguments are RangeErrors naming the function", () => {
  const img = pattern(4);
  assert.throws(() => warpImage(img, 5, { flip: false, angle: 0, scale: 1 }), /warpImage: img has 16 bytes/);
  assert.throws(() => warpImage(img, 4, { flip: false, angle: 0, scale: 1 }, new Uint8Array(3)), RangeError);
  assert.throws(() => warpImage(img, 4, { flip: false, angle: 0, scale: 1 }, img), /must not be the input/);
  assert.throws(() => createRng(0.5), RangeError);
});
