// Helpers shared by this folder's tests and tests/preprocess_cli_test.ts: a split over the real NIH sample.
import { join } from "node:path";
import { samplePngs } from "../../tests/_archive_server.ts";
import { NIH_SAMPLE } from "../../tests/_fixtures.ts";
import { type EntryTable, readEntries } from "../nih/entries.ts";
import { officialSplit, readSplitList } from "../nih/split.ts";
import type { Split } from "../nih/split_file.ts";
import type { CacheJob } from "./build_cache.ts";

let cached: { entries: EntryTable; split: Split; names: string[] } | undefined;

/**
 * The 39 sample PNGs' names, the real v2020 label file filtered to them, and NIH's official split over them
 * (test list as is, a third of the train_val patients to val).
 */
export function sampleSplit(): { entries: EntryTable; split: Split; names: string[] } {
  if (cached) return cached;
  const names = samplePngs();
  const keep = new Set(names);
  const all = readEntries(join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz"));
  const entries = { ...all, entries: all.entries.filter((e) => keep.has(e.image)) };
  const list = (file: string) => {
    const l = readSplitList(join(NIH_SAMPLE, file));
    return { ...l, images: l.images.filter((n) => keep.has(n)) };
  };
  const { split } = officialSplit(entries, list("train_val_list.txt"), list("test_list.txt"), {
    valFraction: 0.34,
  });
  cached = { entries, split, names };
  return cached;
}

/** A cache job of the train partition over `names`, every label 0. */
export function trainJob(names: readonly string[], size: number, splitDigest = "x"): CacheJob {
  return { partition: "train", size, names, labels: names.map(() => "0".repeat(14)), splitDigest };
}
