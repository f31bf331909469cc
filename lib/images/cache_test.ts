import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../tests/_fixtures.ts";
import { FINDINGS } from "../nih/classes.ts";
import { CacheError, openCache } from "./cache.ts";
import { CacheFormatError, formatCacheIndex } from "./cache_format.ts";

function writeCache(dir: string, count: number, size: number, bytes = count * size * size): void {
  writeFileSync(join(dir, "test.bin"), new Uint8Array(bytes).map((_, i) => i % 256));
  writeFileSync(
    join(dir, "test.json"),
    formatCacheIndex({
      format: "cxr-cache/1",
      partition: "test",
      size,
      count,
      classes: [...FINDINGS],
      names: Array.from({ length: count }, (_, i) => `0000000${i}_000.png`),
      labels: Array.from({ length: count }, (_, i) => i % 2 ? "01000000000000" : "00000000000001"),
      splitDigest: "d",
      failed: [{ name: "00000009_000.png", reason: "truncated" }],
    }),
  );
}

Deno.test("openCache reads images by index, in batches and into given buffers", () => {
  using dir = tempDir();
  writeCache(dir.path, 5, 4);
  using cache = openCache(dir.path, "test");
  assert.equal(cache.count, 5);
  assert.equal(cache.size, 4);
  assert.deepEqual(cache.failed, [{ name: "00000009_000.png", reason: "truncated" }]);
  assert.deepEqual([...cache.read(2)], Array.from({ length: 16 }, (_, i) => 32 + i));
  const into = new Uint8Array(3 * 16 + 5);
  assert.equal(cache.readBatch([4, 0, 4], into), into);
  assert.deepEqual([...into.subarray(0, 16)], [...cache.read(4)]);
  assert.deepEqual([...into.subarray(16, 32)], [...cache.read(0)]);
  assert.deepEqual([...cache.labels.subarray(14, 28)], [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(cache.labels[13], 1);
  assert.throws(() => cache.read(5), /Image index 5 out of range 0..4/);
  assert.throws(() => cache.readBatch([0, 1], new Uint8Array(20)), RangeError);
  cache.close();
  assert.throws(() => cache.read(0), /is closed/);
});

Deno.test("a .bin of the wrong size is a CacheError with both sizes", () => {
  using dir = tempDir();
  writeCache(dir.path, 5, 4, 5 * 16 - 3);
  assert.throws(() => openCache(dir.path, "test"), (e: Error) => {
    assert.ok(e instanceof CacheError);
    assert.match(e.message, /has 77 bytes but its index promises 5 images of 4x4 = 80 bytes/);
    return true;
  });
});

Deno.test("a missing index or .bin is a CacheError; a broken index is a SyntaxError naming the file", () => {
  using dir = tempDir();
  assert.throws(() => openCache(dir.path, "val"), /val.json is missing/);
  writeCache(dir.path, 1, 2);
  Deno.removeSync(join(dir.path, "test.bin"));
  assert.throws(() => openCache(dir.path, "test"), /test.bin is missing/);
  writeFileSync(join(dir.path, "test.json"), '{"format": "cxr-cache/1",\n "partition": "test",\n "size": 2,');
  assert.throws(() => openCache(dir.path, "test"), (e: Error) => {
    assert.ok(e instanceof SyntaxError && e instanceof CacheFormatError);
    assert.equal(e.file, "test.json");
    assert.match(e.message, /Cannot read cache index "test.json" at line 3, column \d+: not valid JSON/);
    return true;
  });
  writeFileSync(join(dir.path, "test.json"), '{"format": "cxr-cache/1",\n "partition": "dev"}');
  assert.throws(
    () => openCache(dir.path, "test"),
    /line 2, column 2: partition: expected one of train, val, test/,
  );
});
