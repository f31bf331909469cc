/**
 * Block uploads: a large file goes up as blocks (stageBlock) that one commitBlockList turns into the blob.
 * Block IDs name the block's position and content (`000012-<md5 hex>`), so a run that was killed after
 * staging some blocks resumes: blocks still staged (uncommitted) with the same ID are not sent again.
 *
 * @module
 */
import type { BlockBlobClient } from "@azure/storage-blob";
import type { TryContext } from "./_retry.ts";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";

/** Most blocks a block blob may have. */
export const MAX_BLOCKS = 50_000;

/** What {@linkcode stageFileBlocks} did. */
export interface StagedBlocks {
  /** Block IDs in file order, ready for commitBlockList. */
  ids: string[];
  /** MD5 of the bytes read, in order. */
  md5: Uint8Array;
  /** Bytes read (less than the size if the file shrank). */
  length: number;
}

/** How {@linkcode stageFileBlocks} sends and reports. */
export interface StageOptions {
  /** Bytes per block. */
  blockSize: number;
  /** Blocks in flight at once. */
  concurrency: number;
  /** Runs one request with retries, a stall timeout per try and error mapping. */
  call: <T>(fn: (t: TryContext) => Promise<T>) => Promise<T>;
  /** Called with the byte count of each block sent. */
  onBytes?: ((bytes: number) => void) | undefined;
}

/**
 * The block ID for block `index` with content MD5 `md5` (base64 of a fixed-length text, as Azure wants).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const id = blockId(12, new Uint8Array(16));
 * assert.equal(atob(id), "000012-00000000000000000000000000000000");
 * ```
 */
export function blockId(index: number, md5: Uint8Array): string {
  return btoa(`${String(index).padStart(6, "0")}-${Buffer.from(md5).toString("hex")}`);
}

/** IDs of the blocks staged but not committed for this blob (none if it does not exist). */
async function uncommitted(client: BlockBlobClient, call: StageOptions["call"]): Promise<Set<string>> {
  try {
    const list = await call((t) => client.getBlockList("uncommitted", { abortSignal: t.abortSignal }));
    return new Set((list.uncommittedBlocks ?? []).map((b) => b.name));
  } catch (e) {
    if ((e as { status?: number }).status === 404) return new Set();
    throw e;
  }
}

/**
 * Reads `path` block by block (hashing it in order) and stages each block not already staged, up to
 * `concurrency` at once, each with its transactional MD5 so the service checks it.
 */
export async function stageFileBlocks(
  client: BlockBlobClient,
  path: string,
  size: number,
  options: StageOptions,
): Promise<StagedBlocks> {
  const { blockSize, call } = options;
  const staged = await uncommitted(client, call);
  const hash = createHash("md5");
  const ids: string[] = [];
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  let length = 0;
  const file = await open(path, "r");
  try {
    for (let offset = 0, i = 0; offset < size && failure === undefined; offset += blockSize, i++) {
      const len = Math.min(blockSize, size - offset);
      const buf = Buffer.allocUnsafe(len);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await file.read(buf, got, len - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      length += got;
      if (got < len) break; // the file shrank: the caller's check reports it
      hash.update(buf);
      const blockMd5 = createHash("md5").update(buf).digest();
      const id = blockId(i, blockMd5);
      ids.push(id);
      if (staged.has(id)) continue;
      const task: Promise<void> = call((t) =>
        client.stageBlock(id, buf, len, { transactionalContentMD5: blockMd5, ...t })
      )
        .then(() => options.onBytes?.(len))
        .catch((e) => void (failure ??= e)) // stop reading; the caller commits nothing
        .finally(() => inflight.delete(task));
      inflight.add(task);
      if (inflight.size >= options.concurrency) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  } finally {
    await file.close();
  }
  if (failure !== undefined) throw failure;
  return { ids, md5: hash.digest(), length };
}
