/**
 * Storage throughput: upload and download of the 39 NIH sample PNGs x N copies through Azurite (run as a
 * subprocess, as a separate server would be), at concurrency 1, 8 and 32. Prints a table and a JSON line.
 *
 *   deno run -A bench/storage.ts [--copies 5] [--concurrency 1,8,32]
 *
 * @module
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadSettings } from "../lib/config.ts";
import { connectStorage, downloadPrefix, spawnAzurite, uploadPath } from "../lib/storage/mod.ts";
import { NIH_SAMPLE } from "../tests/_fixtures.ts";

/** One measured transfer. */
export interface StorageBenchRow {
  /** `upload` or `download`. */
  op: string;
  /** Files in flight. */
  concurrency: number;
  /** Files moved. */
  files: number;
  /** Bytes moved. */
  bytes: number;
  /** Wall time in seconds. */
  seconds: number;
  /** Files per second. */
  filesPerSecond: number;
  /** Megabytes (10^6) per second. */
  mbPerSecond: number;
}

/** Runs the benchmark and returns its rows. */
export async function benchStorage(copies: number, levels: number[]): Promise<StorageBenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), "cxr-bench-storage-"));
  const azurite = await spawnAzurite(join(work, "azurite"), { port: 0 });
  const rows: StorageBenchRow[] = [];
  try {
    const src = join(work, "src");
    const images = join(NIH_SAMPLE, "images");
    const pngs = readdirSync(images).filter((n) => n.endsWith(".png"));
    for (let c = 0; c < copies; c++) {
      mkdirSync(join(src, `copy${c}`), { recursive: true });
      for (const n of pngs) copyFileSync(join(images, n), join(src, `copy${c}`, n));
    }
    const settings = loadSettings({
      env: { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString.reveal() },
      envFile: false,
    });
    await using conn = await connectStorage(settings);
    const row = (op: string, concurrency: number, files: number, bytes: number, seconds: number) => {
      rows.push({
        op,
        concurrency,
        files,
        bytes,
        seconds: +seconds.toFixed(3),
        filesPerSecond: +(files / seconds).toFixed(1),
        mbPerSecond: +(bytes / 1e6 / seconds).toFixed(1),
      });
    };
    for (const concurrency of levels) {
      const container = `bench-c${concurrency}`;
      let t0 = performance.now();
      const up = await uploadPath(src, { store: conn.store, container }, { concurrency });
      row("upload", concurrency, up.files, up.bytes, (performance.now() - t0) / 1000);
      const dest = join(work, `dest-${concurrency}`);
      t0 = performance.now();
      const down = await downloadPrefix({ store: conn.store, container }, dest, { concurrency });
      row("download", concurrency, down.files, down.bytes, (performance.now() - t0) / 1000);
      if (up.failed || down.failed || down.files !== pngs.length * copies) {
        throw new Error(`benchmark transfer incomplete: ${JSON.stringify({ up, down })}`);
      }
      rmSync(dest, { recursive: true });
    }
  } finally {
    await azurite.close();
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { copies: { type: "string", default: "5" }, concurrency: { type: "string", default: "1,8,32" } },
  });
  const copies = Number(values.copies);
  const levels = values.concurrency.split(",").map(Number);
  if (!Number.isInteger(copies) || copies < 1 || levels.some((n) => !Number.isInteger(n) || n < 1)) {
    console.error("usage: deno run -A bench/storage.ts [--copies N>=1] [--concurrency 1,8,32]");
    Deno.exit(2);
  }
  const rows = await benchStorage(copies, levels);
  console.log("op        conc  files   MB      s       files/s  MB/s");
  for (const r of rows) {
    console.log(
      `${r.op.padEnd(9)} ${String(r.concurrency).padStart(4)}  ${String(r.files).padStart(5)}  ` +
        `${(r.bytes / 1e6).toFixed(1).padStart(6)}  ${r.seconds.toFixed(2).padStart(6)}  ` +
        `${r.filesPerSecond.toFixed(1).padStart(7)}  ${r.mbPerSecond.toFixed(1).padStart(5)}`,
    );
  }
  console.log(JSON.stringify(rows));
}
