/**
 * Fetches the NIH ChestX-ray14 archives: resumable verified downloads, then streaming extraction of the
 * PNGs, a few archives at a time.
 *
 * Layout under `dest`: `archives/images_NNN.tar.gz` (with `.part` while downloading, `.md5` once verified,
 * `.extracted` once extracted), `images/<name>.png`, and the label files at the top.
 *
 * @module
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { mapPool } from "../pool.ts";
import { type ArchiveEntry, type Catalogue, type DataFileEntry, NIH_CATALOGUE } from "./archives.ts";
import { displayUrl, downloadFile } from "./download.ts";
import { extractArchive } from "./extract.ts";
import { CorruptArchiveError, TruncatedArchiveError } from "./tar.ts";

/** One progress event of {@linkcode fetchArchives}. */
export interface FetchProgress {
  /** The archive (or label file) name. */
  archive: string;
  phase: "download" | "verify" | "extract";
  /** Bytes done in this phase (compressed bytes read, for `extract`). */
  bytesDone: number;
  /** Total bytes of this phase, when known. */
  bytesTotal?: number | undefined;
  /** Images extracted so far (phase `extract`). */
  files?: number | undefined;
}

/** Options of {@linkcode fetchArchives}. */
export interface FetchOptions {
  /** What to download. @default NIH_CATALOGUE */
  catalogue?: Catalogue;
  /** Replaces the location of every URL: archive N comes from `${baseUrl}/images_NNN.tar.gz` (mirrors, tests). */
  baseUrl?: string;
  /** Archive numbers to fetch. @default all in the catalogue */
  only?: number[];
  /** Archives downloaded at the same time. @default 2 */
  concurrency?: number;
  /** Retries per file. @default 3 */
  retries?: number;
  /** First wait between retries, doubled each time. @default 1000 */
  backoffMs?: number;
  /** Also download the catalogue's label files. @default false */
  labels?: boolean;
  /** Extract the PNGs. @default true */
  extract?: boolean;
  /** Keep the archives after extracting them. @default true */
  keepArchives?: boolean;
  /** Progress events. */
  onProgress?: (event: FetchProgress) => void;
  /** Cancels everything; partial downloads stay for a resume. */
  signal?: AbortSignal;
}

/** What happened to one archive or label file. */
export interface FetchedFile {
  name: string;
  /** Size in bytes (when known). */
  bytes?: number | undefined;
  /** md5 (when known). */
  md5?: string;
  /**
   * `downloaded`: this run did work on it (downloaded, or extracted an archive verified earlier);
   * `skipped`: already complete (downloaded and, for archives, extracted) before this run.
   */
  status: "downloaded" | "skipped" | "failed";
  /** PNGs extracted or found identical (archives only). */
  images?: number | undefined;
  /** Why it failed. */
  error?: string;
  /** Error class name when it failed, e.g. `ChecksumMismatchError`. */
  errorName?: string;
}

/** Summary of {@linkcode fetchArchives}. */
export interface FetchSummary {
  /** One row per archive fetched. */
  archives: FetchedFile[];
  /** One row per label file fetched. */
  files: FetchedFile[];
  /** PNGs available from the fetched archives. */
  images: number;
  /** Archives and files that failed. */
  failed: number;
}

/**
 * The URL of `name` under a mirror base URL (a query such as a SAS token is kept).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(mirrorUrl("http://h:1/nih/", "images_001.tar.gz"), "http://h:1/nih/images_001.tar.gz");
 * assert.equal(mirrorUrl("https://a/c?sv=1", "x.gz"), "https://a/c/x.gz?sv=1");
 * ```
 */
export function mirrorUrl(baseUrl: string, name: string): string {
  const u = new URL(baseUrl);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}/${encodeURIComponent(name)}`;
  return u.toString();
}

interface ExtractedMarker {
  md5: string;
  images: number;
}

/** Downloads one catalogue entry to `path` (from the mirror when there is one), reporting under its name. */
function download(entry: DataFileEntry, path: string, options: FetchOptions) {
  return downloadFile(options.baseUrl ? mirrorUrl(options.baseUrl, entry.name) : entry.url, path, {
    bytes: entry.bytes,
    md5: entry.md5,
    retries: options.retries,
    backoffMs: options.backoffMs,
    signal: options.signal,
    onProgress: (e) => options.onProgress?.({ archive: entry.name, ...e }),
  });
}

async function fetchOne(entry: ArchiveEntry, dest: string, options: FetchOptions): Promise<FetchedFile> {
  const path = join(dest, "archives", entry.name);
  const markerPath = `${path}.extracted`;
  const report = (e: Omit<FetchProgress, "archive">) => options.onProgress?.({ archive: entry.name, ...e });
  const removeArchive = async () => {
    await rm(path, { force: true });
    await rm(`${path}.md5`, { force: true });
  };
  const extract = options.extract ?? true;
  const marker = await readFile(markerPath, "utf8").then((t) => JSON.parse(t) as ExtractedMarker).catch(
    () => undefined,
  );
  // Extracted earlier and the archive since deleted: nothing to do (when the md5 still matches the catalogue).
  if (extract && marker && (!entry.md5 || marker.md5 === entry.md5)) {
    const kept = await readFile(`${path}.md5`, "utf8").then(() => true).catch(() => false);
    const { md5, images } = marker;
    if (!kept) return { name: entry.name, bytes: entry.bytes, md5, status: "skipped", images };
  }
  const dl = await download(entry, path, options);
  let status: FetchedFile["status"] = dl.status;
  let images: number | undefined;
  if (extract) {
    if (marker && marker.md5 === dl.md5) {
      images = marker.images;
    } else {
      await rm(markerPath, { force: true });
      const r = await extractArchive(path, dest, { signal: options.signal, onProgress: report }).catch(
        async (e) => {
          // Without a published md5 a damaged archive may be a bad download: drop it so a re-run fetches it again.
          if (!entry.md5 && (e instanceof TruncatedArchiveError || e instanceof CorruptArchiveError)) {
            await removeArchive();
          }
          throw e;
        },
      );
      images = r.images;
      await writeFile(markerPath, JSON.stringify({ md5: dl.md5, images } satisfies ExtractedMarker));
      status = dl.status === "skipped" && r.written === 0 ? "skipped" : "downloaded";
    }
    if (options.keepArchives === false) await removeArchive();
  }
  return { name: entry.name, bytes: dl.bytes, md5: dl.md5, status, images };
}

/** What `fetch` resolves to, or a `failed` row saying why (an abort rejects). */
async function orFailure(
  name: string,
  signal: AbortSignal | undefined,
  fetch: () => Promise<FetchedFile>,
): Promise<FetchedFile> {
  try {
    return await fetch();
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    const err = e as Error;
    return { name, status: "failed", error: String(err?.message ?? e), errorName: err?.name ?? "Error" };
  }
}

/**
 * Downloads (resumably, verified) and extracts the selected archives into `dest`.
 *
 * A failure of one archive does not stop the others: it is reported in the summary (`status: "failed"`,
 * `failed` count). Cancelling through `signal` rejects with the abort reason.
 *
 * @param dest The destination folder.
 * @param options Catalogue, mirror, selection, concurrency, retries, progress, cancellation.
 * @returns One row per archive and label file, the number of images, the number of failures.
 * @throws {RangeError} when `only` names an archive that is not in the catalogue.
 * @example
 * ```ts ignore
 * const summary = await fetchArchives("data/nih", { only: [1], onProgress: (e) => console.log(e) });
 * console.log(summary.images); // 4999
 * ```
 */
export async function fetchArchives(dest: string, options: FetchOptions = {}): Promise<FetchSummary> {
  const catalogue = options.catalogue ?? NIH_CATALOGUE;
  const concurrency = options.concurrency ?? 2;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`fetchArchives: concurrency must be an integer >= 1, got ${concurrency}`);
  }
  if (options.baseUrl !== undefined && !URL.canParse(options.baseUrl)) {
    throw new TypeError(`fetchArchives: baseUrl is not a URL: "${displayUrl(options.baseUrl)}"`);
  }
  const known = new Map(catalogue.archives.map((a) => [a.number, a]));
  for (const n of options.only ?? []) {
    if (!known.has(n)) {
      const valid = [...known.keys()].sort((a, b) => a - b).join(", ");
      throw new RangeError(`fetchArchives: there is no archive ${n}; valid archive numbers: ${valid}`);
    }
  }
  const selected = options.only
    ? [...new Set(options.only)].sort((a, b) => a - b).map((n) => known.get(n)!)
    : [...catalogue.archives];
  await mkdir(join(dest, "archives"), { recursive: true });
  const rows = await mapPool(
    selected,
    concurrency,
    (a) => orFailure(a.name, options.signal, () => fetchOne(a, dest, options)),
  );
  const files: FetchedFile[] = [];
  for (const f of options.labels ? catalogue.files : []) {
    files.push(
      await orFailure(f.name, options.signal, async () => {
        const dl = await download(f, join(dest, f.name), options);
        return { name: f.name, bytes: dl.bytes, md5: dl.md5, status: dl.status };
      }),
    );
  }
  return {
    archives: rows,
    files,
    images: rows.reduce((s, r) => s + (r.images ?? 0), 0),
    failed: [...rows, ...files].filter((r) => r.status === "failed").length,
  };
}
