/**
 * A whole NIH-layout data set to blob storage and back: label files to the metadata container, PNGs to the
 * images container, archives to the archives container ({@linkcode uploadDataset}), and the reverse on the
 * training side ({@linkcode downloadDataset}). Both resume (files already there and identical are skipped)
 * and return a summary that renders as a table in Jupyter.
 *
 * @module
 */
import { statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Settings } from "../config.ts";
import { formatAmount, Progress } from "../progress.ts";
import { escapeHtml, htmlTable, JUPYTER_DISPLAY, textTable } from "../display.ts";
import { listDataset } from "../nih/mod.ts";
import type { BlobStore } from "./blob_store.ts";
import {
  type BlobLocation,
  downloadPrefix,
  type TransferOptions,
  type TransferProgress,
  type TransferSummary,
  uploadPath,
} from "./transfer.ts";

/** The three containers a data set uses. */
export const DATASET_ROLES = ["metadata", "images", "archives"] as const;
/** A container role of a data set. */
export type DatasetRole = typeof DATASET_ROLES[number];

/** Where a data set goes: a store and the workflow's container names (a `StorageConnection` is one). */
export interface DatasetTarget {
  store: BlobStore;
  /** Container names by role. */
  containers: Settings["storage"]["containers"];
}

/** A progress event of a data set transfer: the transfer's event, with the role and container it is about. */
export interface DatasetTransferProgress extends TransferProgress {
  /** Which part of the data set. */
  role: DatasetRole;
  container: string;
}

/** Options of {@linkcode uploadDataset} and {@linkcode downloadDataset}. */
export interface DatasetTransferOptions extends Omit<TransferOptions, "onProgress"> {
  /** Parts to transfer. @default upload: all three; download: metadata and images */
  roles?: readonly DatasetRole[];
  /** Upload only: a split file (anywhere) to put in the metadata container under its base name. */
  splitFile?: string;
  /** Draw progress, one display per part (live in Jupyter, a bar on a terminal, lines in logs). @default false */
  progress?: boolean;
  /** Progress events. */
  onProgress?: (event: DatasetTransferProgress) => void;
}

/** One part of a data set transfer. */
export interface DatasetTransferRow extends TransferSummary {
  role: DatasetRole;
  container: string;
}

/** A transfer's counts without its failures. */
type Totals = Omit<TransferSummary, "failures">;
const TOTALS = ["files", "bytes", "skipped", "failed"] as const;

/** What a data set transfer did, per container; a table in Jupyter. */
export class DatasetTransferSummary {
  constructor(
    /** Which way. */
    readonly direction: "upload" | "download",
    /** Blob endpoint (no credentials). */
    readonly endpoint: string,
    /** One row per part transferred. */
    readonly rows: DatasetTransferRow[],
  ) {}

  /** Sums over all parts. */
  get total(): Totals {
    return Object.fromEntries(TOTALS.map((k) => [k, this.rows.reduce((n, r) => n + r[k], 0)])) as Totals;
  }

  /** True when no file failed. */
  get ok(): boolean {
    return this.total.failed === 0;
  }

  /** The plain data. */
  toJSON(): { direction: string; endpoint: string; rows: DatasetTransferRow[]; total: Totals } {
    return { direction: this.direction, endpoint: this.endpoint, rows: this.rows, total: this.total };
  }

  #table(): string[][] {
    const line = (name: string, container: string, s: Totals) => [
      name,
      container,
      String(s.files),
      formatAmount(s.bytes, "bytes"),
      String(s.skipped),
      String(s.failed),
    ];
    return [
      ["part", "container", "files", "bytes", "skipped", "failed"],
      ...this.rows.map((r) => line(r.role, r.container, r)),
      line("total", "", this.total),
    ];
  }

  /** The MIME bundle Deno's Jupyter kernel shows: a table per container, then the failures. */
  [JUPYTER_DISPLAY](): { "text/html": string; "text/plain": string } {
    const head = `${this.direction === "upload" ? "Uploaded to" : "Downloaded from"} ${this.endpoint}`;
    const table = this.#table();
    const failures = this.rows.flatMap((r) => r.failures).slice(0, 20);
    const items = failures.map((f) => `<li>${escapeHtml(f.name)}: ${escapeHtml(f.reason)}</li>`).join("");
    const plain = [head, textTable(table), ...failures.map((f) => `failed: ${f.name}: ${f.reason}`)];
    return {
      "text/html": `<p>${escapeHtml(head)}</p>${htmlTable(table[0]!, table.slice(1))}` +
        (items ? `<ul>${items}</ul>` : ""),
      "text/plain": plain.join("\n"),
    };
  }
}

function checkRoles(roles: readonly DatasetRole[], fn: string): readonly DatasetRole[] {
  const bad = roles.filter((r) => !DATASET_ROLES.includes(r));
  if (bad.length) throw new RangeError(`${fn}: unknown role "${bad[0]}"; valid: ${DATASET_ROLES.join(", ")}`);
  return roles;
}

const COUNTS = ["files", "skipped", "failed", "bytes", "filesTotal", "bytesTotal"] as const;
type ProgressCounts = Pick<TransferProgress, typeof COUNTS[number]>;

/** The counts of two progress events added up. */
function addCounts(a: ProgressCounts, b: ProgressCounts): ProgressCounts {
  return Object.fromEntries(COUNTS.map((k) => [k, a[k] + b[k]])) as ProgressCounts;
}

/**
 * Transfers each role's part: the transfers of one part (one or several sources) run as one, their progress
 * events and counts adding up; totals grow as each transfer's scan reports its own.
 */
async function transferParts(
  direction: "upload" | "download",
  { store, containers }: DatasetTarget,
  roles: readonly DatasetRole[],
  options: DatasetTransferOptions,
  stepsOf: (role: DatasetRole, where: BlobLocation) => ((o: TransferOptions) => Promise<TransferSummary>)[],
): Promise<DatasetTransferSummary> {
  const rows: DatasetTransferRow[] = [];
  for (const role of roles) {
    const container = containers[role];
    const sum: TransferSummary = { files: 0, bytes: 0, skipped: 0, failed: 0, failures: [] };
    let bar: Progress | undefined;
    let base: ProgressCounts = { files: 0, skipped: 0, failed: 0, bytes: 0, filesTotal: 0, bytesTotal: 0 };
    for (const step of stepsOf(role, { store, container })) {
      let last: TransferProgress | undefined;
      const s = await step({
        ...options,
        onProgress: (e) => {
          last = e;
          const event: DatasetTransferProgress = { ...e, ...addCounts(base, e), role, container };
          options.onProgress?.(event);
          if (options.progress) {
            const b = bar ??= new Progress({ label: `${direction} ${role}`, unit: "bytes" });
            const done = event.files + event.skipped + event.failed;
            b.update(event.bytes, event.bytesTotal, `${done}/${event.filesTotal} files`);
          }
        },
      });
      if (last) base = addCounts(base, last);
      for (const k of TOTALS) sum[k] += s[k];
      sum.failures.push(...s.failures);
    }
    bar?.finish();
    rows.push({ role, container, ...sum });
  }
  return new DatasetTransferSummary(direction, store.endpoint, rows);
}

/**
 * Uploads a data set in the NIH layout: the label files at the top of `dataDir` (`Data_Entry*`, `BBox*`,
 * `*_list.txt`, split files) and `options.splitFile` to the metadata container, every file under `images/` to
 * the images container, `archives/*.tar.gz` to the archives container; blob names are the names relative to
 * those folders. Files already there with the same size and MD5 are skipped, so a second run resumes.
 *
 * @param dataDir Folder in the NIH layout.
 * @param target Store and container names (a `StorageConnection`).
 * @throws {StorageError} When the store refuses or cannot be reached; single failed files are counted instead.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * import { connectStorage } from "./connect.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${dir}/nih/images`, { recursive: true });
 * Deno.writeTextFileSync(`${dir}/nih/test_list.txt`, "00000001_000.png");
 * Deno.writeTextFileSync(`${dir}/nih/images/00000001_000.png`, "png bytes");
 * const conn = await connectStorage(loadSettings({ env: { CXR_AZURITE_DIR: `${dir}/azurite`, CXR_AZURITE_PORT: "0" }, envFile: false }));
 * const up = await uploadDataset(`${dir}/nih`, conn);
 * assert.deepEqual(up.rows.map((r) => [r.container, r.files]), [["nih-metadata", 1], ["nih-images", 1], ["nih-archives", 0]]);
 * const down = await downloadDataset(conn, `${dir}/copy`);
 * assert.equal(Deno.readTextFileSync(`${dir}/copy/images/00000001_000.png`), "png bytes");
 * assert.equal(down.total.files, 2);
 * await conn.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function uploadDataset(
  dataDir: string,
  target: DatasetTarget,
  options: DatasetTransferOptions = {},
): Promise<DatasetTransferSummary> {
  const roles = checkRoles(options.roles ?? DATASET_ROLES, "uploadDataset");
  const listing = listDataset(dataDir);
  return await transferParts("upload", target, roles, options, (role, dest) => {
    const upload = (path: string) => (o: TransferOptions) => uploadPath(path, dest, o);
    if (role === "images") return listing.images > 0 ? [upload(join(dataDir, "images"))] : [];
    if (role === "archives") return listing.archives.map((a) => upload(join(dataDir, "archives", a)));
    const paths = listing.labelFiles.map((f) => resolve(dataDir, f));
    if (options.splitFile) {
      const split = resolve(options.splitFile);
      if (!statSync(split, { throwIfNoEntry: false })?.isFile()) {
        throw new TypeError(`uploadDataset: splitFile "${options.splitFile}" does not exist`);
      }
      if (!paths.includes(split)) paths.push(split);
    }
    return paths.map(upload);
  });
}

/**
 * Downloads a data set uploaded by {@linkcode uploadDataset} into `dest` in the NIH layout: the metadata
 * container's blobs at the top, the images container's under `images/`, the archives container's (only when
 * `roles` names it) under `archives/`. Local files with the same size and MD5 are skipped; every file is
 * verified before it takes its name.
 *
 * @param target Store and container names (a `StorageConnection`).
 * @param dest Folder to write into (created if missing).
 * @throws {ContainerNotFoundError} When a container to read does not exist.
 */
export async function downloadDataset(
  target: DatasetTarget,
  dest: string,
  options: DatasetTransferOptions = {},
): Promise<DatasetTransferSummary> {
  const roles = checkRoles(options.roles ?? ["metadata", "images"], "downloadDataset");
  return await transferParts("download", target, roles, options, (role, src) => {
    const folder = role === "metadata" ? dest : join(dest, role);
    return [(o: TransferOptions) => downloadPrefix(src, folder, o)];
  });
}
