/**
 * Writing a file whole or not at all.
 *
 * @module
 */
import { rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

let tmpCounter = 0;

/**
 * Writes `data` through a hidden temporary file beside `path` and a rename, so readers never see half a file;
 * on failure the temporary file is removed and `path` is left as it was.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * await writeAtomic(`${dir}/a.txt`, "whole");
 * assert.equal(Deno.readTextFileSync(`${dir}/a.txt`), "whole");
 * await assert.rejects(writeAtomic(`${dir}/missing/a.txt`, "x"));
 * assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["a.txt"]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function writeAtomic(
  path: string,
  data: string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${Deno.pid}.${++tmpCounter}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
