/**
 * `deno task cxr data upload` and `deno task cxr data download`: resumable, verified folder transfers
 * between this machine and blob storage (Azurite by default, Azure with credentials in the settings).
 *
 * @module
 */
import { existsSync } from "node:fs";
import {
  type Command,
  type CommandContext,
  intOption,
  type OptionValues,
  stringOption,
  UsageError,
} from "./command.ts";
import { loadSettings, type Settings } from "../config.ts";
import { formatAmount, Progress } from "../progress.ts";
import {
  type BlobStore,
  connectStorage,
  downloadPrefix,
  type TransferProgress,
  type TransferSummary,
  uploadPath,
} from "../storage/mod.ts";

const CONTAINER_HELP = "Container name, or archives | images | metadata | models for the configured names.";

const COMMON = {
  container: { valueName: "C", required: true, description: CONTAINER_HELP },
  prefix: { valueName: "P", description: "Blob name prefix, taken as a folder.", defaultText: '""' },
  concurrency: { valueName: "N", description: "Files in flight at once (1-256).", defaultText: "8" },
} as const;

/** `archives`, `images`, ... map to the configured container names; anything else is taken literally. */
function containerName(values: OptionValues, settings: Settings): string {
  const c = stringOption(values, "container");
  const roles = settings.storage.containers as Record<string, string>;
  return (Object.hasOwn(roles, c) ? roles[c] : undefined) ?? c;
}

/** Connects (saying why a request is retried), runs `move` with a progress display and prints the summary. */
async function transfer(
  settings: Settings,
  ctx: CommandContext,
  [verb, label]: [string, string],
  move: (store: BlobStore, onProgress: (e: TransferProgress) => void) => Promise<TransferSummary>,
): Promise<number> {
  // Say why a request is tried again (a stalled or busy endpoint would otherwise look like a hang), each
  // reason at most once every 10 s.
  const lastNotice = new Map<string, number>();
  const onRetry = (error: unknown, attempt: number) => {
    const [reason = ""] = (error as Error).message.split("; ");
    const now = Date.now();
    if ((lastNotice.get(reason) ?? -Infinity) > now - 10_000) return;
    lastNotice.set(reason, now);
    ctx.err(`warning: ${reason}; trying again (try ${attempt + 1})`);
  };
  await using conn = await connectStorage(settings, { retry: { onRetry } });
  let bar: Progress | undefined; // created once the totals are known
  const s = await move(conn.store, (e) => {
    bar ??= new Progress({ label, total: e.bytesTotal, unit: "bytes" });
    bar.update(e.bytes, e.bytesTotal, `${e.files + e.skipped + e.failed}/${e.filesTotal} files`);
  });
  bar?.finish();
  for (const f of s.failures) ctx.err(`failed: ${f.name}: ${f.reason}`);
  if (ctx.json) {
    ctx.out(JSON.stringify({ files: s.files, bytes: s.bytes, skipped: s.skipped, failed: s.failed }));
  } else {
    ctx.out(
      `${verb} ${s.files} files (${formatAmount(s.bytes, "bytes")}), skipped ${s.skipped} already there, ` +
        `failed ${s.failed}`,
    );
  }
  return s.failed > 0 ? 1 : 0;
}

/**
 * `data upload`: a folder or file to a container. Prints `{"files":N,"bytes":N,"skipped":N,"failed":N}`
 * with --json.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(dataUploadCommand.name, "data upload");
 * assert.equal(dataUploadCommand.options.src?.required, true);
 * ```
 */
export const dataUploadCommand: Command = {
  name: "data upload",
  summary: "Upload a folder (or file) to blob storage; resumes, skipping blobs already there.",
  details:
    "Blob names are PREFIX/<path relative to --src>. Every blob gets its Content-MD5; a second run sends " +
    "only files that are missing or different (size and MD5). Each try of a request is aborted after " +
    "CXR_STORAGE_TIMEOUT_MS (default 30000) without an answer or a byte moved, and retried. Exit code 1 if any " +
    "file failed.",
  options: {
    src: { valueName: "DIR", required: true, description: "Folder or file to upload." },
    ...COMMON,
    "block-size": {
      valueName: "MIB",
      description: "Files larger than this go up in blocks of this size.",
      defaultText: "8",
    },
  },
  async run(values, ctx) {
    const settings = loadSettings();
    const concurrency = intOption(values, "concurrency", { min: 1, max: 256, fallback: 8 });
    const blockSize = intOption(values, "block-size", { min: 1, max: 4000, fallback: 8 }) * 1024 * 1024;
    const container = containerName(values, settings);
    const src = stringOption(values, "src");
    if (!existsSync(src)) throw new UsageError(`--src "${src}" does not exist`);
    const prefix = stringOption(values, "prefix", "");
    return await transfer(
      settings,
      ctx,
      ["uploaded", `upload to ${container}`],
      (store, onProgress) =>
        uploadPath(src, { store, container, prefix }, { concurrency, blockSize, onProgress }),
    );
  },
};

/**
 * `data download`: a container (or prefix) to a folder. Prints `{"files":N,"bytes":N,"skipped":N,"failed":N}`
 * with --json.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(dataDownloadCommand.name, "data download");
 * assert.equal(dataDownloadCommand.options.dest?.required, true);
 * ```
 */
export const dataDownloadCommand: Command = {
  name: "data download",
  summary: "Download blobs under a prefix to a folder; verifies Content-MD5, skips files already there.",
  details:
    "Files land at DEST/<blob name relative to --prefix>, written to a temp file and renamed once the " +
    "length and Content-MD5 match. Each try of a request is aborted after CXR_STORAGE_TIMEOUT_MS (default " +
    "30000) without an answer or a byte moved, and retried. Exit code 1 if any file failed.",
  options: {
    dest: { valueName: "DIR", required: true, description: "Folder to write into." },
    ...COMMON,
  },
  async run(values, ctx) {
    const settings = loadSettings();
    const concurrency = intOption(values, "concurrency", { min: 1, max: 256, fallback: 8 });
    const container = containerName(values, settings);
    const [prefix, dest] = [stringOption(values, "prefix", ""), stringOption(values, "dest")];
    return await transfer(
      settings,
      ctx,
      ["downloaded", `download from ${container}`],
      (store, onProgress) => downloadPrefix({ store, container, prefix }, dest, { concurrency, onProgress }),
    );
  },
};
