/**
 * `deno task cxr data fetch`: downloads and extracts the NIH ChestX-ray14 image archives.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import {
  asUsageError,
  type Command,
  intOption,
  optionalString,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import { type Catalogue, NIH_CATALOGUE, parseArchiveSelection, parseCatalogue } from "../nih/archives.ts";
import { fetchArchives, type FetchProgress } from "../nih/fetch.ts";
import { Progress } from "../progress.ts";

/** Turns fetch events into one byte-progress display per archive and phase. */
function progressDisplay(): { onProgress: (e: FetchProgress) => void; finish(): void } {
  const bars = new Map<string, { phase: string; bar: Progress }>();
  return {
    onProgress(e) {
      let current = bars.get(e.archive);
      if (current?.phase !== e.phase) {
        current?.bar.finish();
        const bar = new Progress({ label: `${e.phase} ${e.archive}`, total: e.bytesTotal, unit: "bytes" });
        bars.set(e.archive, current = { phase: e.phase, bar });
      }
      current.bar.update(e.bytesDone, e.bytesTotal, e.files !== undefined ? `${e.files} images` : undefined);
    },
    finish() {
      for (const { bar } of bars.values()) bar.finish();
    },
  };
}

function loadCatalogue(file: string | undefined): Catalogue {
  if (file === undefined) return NIH_CATALOGUE;
  const text = asUsageError(
    () => readFileSync(file, "utf8"),
    (m) => `--catalogue: cannot read "${file}": ${m}`,
  );
  return parseCatalogue(text, file);
}

/** The `data fetch` command. */
export const dataFetchCommand: Command = {
  name: "data fetch",
  summary: "Download the NIH ChestX-ray14 image archives (resumable, md5-verified) and extract the PNGs.",
  details: [
    "Archives go to DIR/archives/images_NNN.tar.gz (growing as .part until verified), PNGs to DIR/images/.",
    "An interrupted run resumes where it stopped; archives already verified and extracted are skipped.",
    "--catalogue FILE replaces the built-in list of the 12 NIH archives with a JSON file of the form",
    '{"archives":[{"number":1,"name":"images_001.tar.gz","url":"...","bytes":N,"md5":"..."}],',
    '"files":[{"name":"test_list.txt","url":"..."}]} (bytes and md5 optional), e.g. for a mirror or tests.',
    'With --json, stdout is one document: {"archives":[{"name","bytes","md5","status":"downloaded"|',
    '"skipped"|"failed","images"}],"files":[...],"images":N,"failed":N}. Exit code 1 if anything failed.',
  ].join("\n"),
  options: {
    dest: { valueName: "DIR", description: "Destination folder.", required: true },
    only: {
      valueName: "LIST",
      description: "Archive numbers to fetch, e.g. 1,3 or 1-4.",
      defaultText: "all (1..12)",
    },
    "base-url": {
      valueName: "URL",
      description: "Mirror to download from instead: archive N is URL/images_NNN.tar.gz.",
    },
    catalogue: { valueName: "FILE", description: "JSON catalogue replacing the built-in one." },
    concurrency: { valueName: "N", description: "Archives at a time.", defaultText: "2" },
    retries: { valueName: "N", description: "Retries per archive.", defaultText: "3" },
    labels: { description: "Also download the label files and split lists." },
    "no-extract": { description: "Only download and verify, do not extract." },
    "delete-archives": { description: "Delete each archive once extracted." },
  },
  async run(values, ctx) {
    const dest = stringOption(values, "dest");
    const catalogue = loadCatalogue(optionalString(values, "catalogue"));
    const selection = optionalString(values, "only");
    const only = selection === undefined ? undefined : asUsageError(
      () => parseArchiveSelection(selection, catalogue.archives.map((a) => a.number)),
      (m) => `--only: ${m}`,
    );
    const baseUrl = optionalString(values, "base-url");
    if (baseUrl !== undefined && !/^https?:\/\//.test(baseUrl)) {
      throw new UsageError(`--base-url must be an http(s) URL, got "${baseUrl.replace(/\?.*/, "")}"`);
    }
    const display = progressDisplay();
    const controller = new AbortController();
    const onSignal = () => controller.abort(new Error("interrupted; run the same command again to resume"));
    Deno.addSignalListener("SIGINT", onSignal);
    let summary;
    try {
      summary = await fetchArchives(dest, {
        catalogue,
        ...withoutUndefined({ baseUrl, only }),
        concurrency: intOption(values, "concurrency", { min: 1, max: 16, fallback: 2 }),
        retries: intOption(values, "retries", { min: 0, max: 100, fallback: 3 }),
        labels: values.labels === true,
        extract: values["no-extract"] !== true,
        keepArchives: values["delete-archives"] !== true,
        onProgress: display.onProgress,
        signal: controller.signal,
      });
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      display.finish();
    }
    if (ctx.json) {
      ctx.out(JSON.stringify(summary));
    } else {
      for (const r of [...summary.archives, ...summary.files]) {
        const images = r.images !== undefined ? `, ${r.images} images` : "";
        const detail = r.status === "failed" ? `: ${r.errorName}: ${r.error}` : ` (md5 ${r.md5}${images})`;
        ctx.out(`${r.name}  ${r.status}${detail}`);
      }
      ctx.out(`${summary.images} images in ${dest}/images, ${summary.failed} failed`);
    }
    return summary.failed > 0 ? 1 : 0;
  },
};
