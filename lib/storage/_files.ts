/**
 * Local-file helpers of the storage step: MD5 of a file, Content-Type by extension, folder walk.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";

/**
 * Base64 MD5 of a file, read as a stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "{}");
 * assert.equal(await md5File(path), "mZFLkyvTelC5g8XnyQrpOw==");
 * Deno.removeSync(path);
 * ```
 */
export async function md5File(path: string): Promise<string> {
  const hash = createHash("md5");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk);
  return hash.digest("base64");
}

const TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".csv": "text/csv",
  ".txt": "text/plain",
  ".json": "application/json",
  ".gz": "application/gzip",
  ".tar": "application/x-tar",
  ".onnx": "application/octet-stream",
  ".bin": "application/octet-stream",
};

/**
 * Content-Type for a file name, `application/octet-stream` if unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(contentTypeOf("images/00000001_000.PNG"), "image/png");
 * assert.equal(contentTypeOf("images_001.tar.gz"), "application/gzip");
 * assert.equal(contentTypeOf("weights"), "application/octet-stream");
 * ```
 */
export function contentTypeOf(name: string): string {
  const m = /\.[^./]+$/.exec(name.toLowerCase());
  return (m && TYPES[m[0]]) || "application/octet-stream";
}

/** Marker in the names of temp files that downloads write before renaming. */
export const PART_MARK = ".cxr-part-";

/** One local file of a folder walk. */
export interface LocalFile {
  /** Path relative to the walked folder, with `/` separators. */
  rel: string;
  /** Full path. */
  path: string;
  /** Size in bytes. */
  size: number;
}

/**
 * Every regular file under `dir` (symlinks and download temp files left out), sorted by relative path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${dir}/b`);
 * Deno.writeTextFileSync(`${dir}/b/x.png`, "12");
 * Deno.writeTextFileSync(`${dir}/a.txt`, "1");
 * Deno.writeTextFileSync(`${dir}/.a.txt${PART_MARK}1234`, "partial");
 * assert.deepEqual((await walkFiles(dir)).map((f) => [f.rel, f.size]), [["a.txt", 1], ["b/x.png", 2]]);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function walkFiles(dir: string): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name.includes(PART_MARK)) continue;
    const path = join(entry.parentPath, entry.name);
    out.push({ rel: relative(dir, path).split(sep).join("/"), path, size: (await stat(path)).size });
  }
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}
