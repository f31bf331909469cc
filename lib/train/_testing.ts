/**
 * Test helper: a small synthetic data set (lib/nih `synthesize`) turned into a preprocessed cache with
 * lib/images' `preprocess`, split patient-wise with the official lists (a quarter of the
 * train_val patients for validation).
 *
 * @module
 */
import { join } from "node:path";
import { preprocess } from "../images/mod.ts";
import { officialSplit, readEntries, readSplitList, synthesize } from "../nih/mod.ts";

/** Writes `<dir>/nih` (synthetic PNGs) and `<dir>/cache` (`cxr-cache/1`); returns the cache folder. */
export async function writeSyntheticCache(
  dir: string,
  options: { images: number; size: number; seed?: number },
): Promise<string> {
  const data = join(dir, "nih");
  const cache = join(dir, "cache");
  await synthesize(data, { images: options.images, size: options.size, seed: options.seed ?? 1 });
  const entries = readEntries(join(data, "Data_Entry_2017.csv"));
  const { split } = officialSplit(
    entries,
    readSplitList(join(data, "train_val_list.txt")),
    readSplitList(join(data, "test_list.txt")),
    { valFraction: 0.25 },
  );
  await preprocess(data, cache, { split, entries, size: options.size });
  return cache;
}
