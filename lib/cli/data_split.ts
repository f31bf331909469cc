/**
 * `deno task cxr data split` (draw a patient-wise split and write the split file) and `deno task cxr data
 * labels` (label statistics of the label file, per partition with a split).
 *
 * @module
 */
import { dirname, join } from "node:path";
import {
  choiceOption,
  type Command,
  intOption,
  numberOption,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import { readEntries } from "../nih/entries.ts";
import { readBoundingBoxes } from "../nih/bbox.ts";
import { readBlacklist } from "../nih/blacklist.ts";
import { officialSplit, readSplitList, seedSplit } from "../nih/split.ts";
import { PARTITIONS, readSplit, SPLIT_METHODS, type SplitResult, writeSplit } from "../nih/split_file.ts";
import { findPresentImages, restrictToPresent } from "../nih/split_present.ts";
import { labelStatistics } from "../nih/labels.ts";

/** The `data split` command. */
export const dataSplitCommand: Command = {
  name: "data split",
  summary: "Draw a patient-wise train/val/test split and write it as a split file (cxr-split/1).",
  details:
    "--method seed reproduces the seed project's split: patients without bounding boxes shuffled with " +
    "CPython's random.seed(N) + random.shuffle, 70 % train, 10 % val, the rest plus every boxed patient test. " +
    "--method official uses NIH's train_val_list.txt / test_list.txt and moves --val-fraction of the " +
    "train_val patients to val. Blacklisted images are left out. --present DIR then keeps only the images " +
    "found in DIR (a data folder with images/, or the images folder itself; e.g. after data fetch --only 1): " +
    "each keeps the partition its patient has in the full split, so the result is a patient-wise subset of " +
    "the full split of the same seed, and the file records the folder, how many images were found and left " +
    "out, and the full split's digest. The file is written atomically.",
  options: {
    entries: { valueName: "FILE", required: true, description: "Data_Entry_2017*.csv(.gz)." },
    bbox: {
      valueName: "FILE",
      description: "BBox_List_2017.csv(.gz); required for --method seed, unused by official.",
    },
    blacklist: { valueName: "FILE", description: "Image names to leave out, one per line." },
    method: { valueName: "seed|official", required: true, description: "How to split." },
    seed: { valueName: "N", description: "Seed of the shuffle.", defaultText: "0" },
    "val-fraction": {
      valueName: "X",
      description: "Share of train_val patients moved to val (official only).",
      defaultText: "0.1",
    },
    lists: {
      valueName: "DIR",
      description: "Folder of train_val_list.txt and test_list.txt (official only).",
      defaultText: "the entries file's folder",
    },
    present: {
      valueName: "DIR",
      description: "Split only the images present in DIR (or DIR/images); the others are left out.",
    },
    out: { valueName: "FILE", required: true, description: "Split file to write." },
  },
  run(values, ctx) {
    const method = choiceOption(values, "method", SPLIT_METHODS);
    const seed = intOption(values, "seed", { fallback: 0 });
    const entriesPath = stringOption(values, "entries");
    const out = stringOption(values, "out");
    if (method === "seed" && values["val-fraction"] !== undefined) {
      throw new UsageError("--val-fraction applies to --method official only (seed uses 70/10/20)");
    }
    if (method === "seed" && values.bbox === undefined) {
      throw new UsageError("--bbox is required for --method seed");
    }
    const valFraction = method === "official"
      ? numberOption(values, "val-fraction", { min: 0, max: 0.99, fallback: 0.1 })
      : undefined;
    const entries = readEntries(entriesPath);
    const blacklist = typeof values.blacklist === "string" ? readBlacklist(values.blacklist) : undefined;
    let result: SplitResult;
    if (method === "seed") {
      result = seedSplit(entries, readBoundingBoxes(stringOption(values, "bbox")), { seed, blacklist });
    } else {
      const dir = stringOption(values, "lists", dirname(entriesPath));
      const trainVal = readSplitList(join(dir, "train_val_list.txt"));
      const test = readSplitList(join(dir, "test_list.txt"));
      result = officialSplit(entries, trainVal, test, { seed, valFraction, blacklist });
    }
    if (typeof values.present === "string") {
      const restricted = restrictToPresent(result.split, findPresentImages(values.present));
      result = { split: restricted.split, warnings: [...result.warnings, ...restricted.warnings] };
    }
    for (const w of result.warnings) ctx.err(`warning: ${w}`);
    writeSplit(out, result.split);
    const { split } = result;
    const images = Object.fromEntries(PARTITIONS.map((p) => [p, split.images[p].length]));
    if (ctx.json) {
      ctx.out(JSON.stringify({
        method,
        seed,
        patients: split.patients,
        images,
        ...(split.present ? { present: split.present } : {}),
        out,
      }));
      return;
    }
    ctx.out(`${method} split (seed ${seed}) written to ${out}`);
    if (split.present) {
      const { dir, images: found, absent } = split.present;
      ctx.out(
        `  only the ${found.toLocaleString("en-US")} images present in ${dir}; ` +
          `${absent.toLocaleString("en-US")} of the full split left out`,
      );
    }
    for (const p of PARTITIONS) {
      const [patients, count] = [String(split.patients[p]).padStart(6), String(images[p]).padStart(7)];
      ctx.out(`  ${p.padEnd(5)}  ${patients} patients  ${count} images`);
    }
  },
};

/** The `data labels` command. */
export const dataLabelsCommand: Command = {
  name: "data labels",
  summary: "Count images, patients and images per finding in the label file (per partition with --split).",
  options: {
    entries: { valueName: "FILE", required: true, description: "Data_Entry_2017*.csv(.gz)." },
    split: { valueName: "FILE", description: "A split file: add counts per partition." },
  },
  run(values, ctx) {
    const entries = readEntries(stringOption(values, "entries"));
    const split = typeof values.split === "string" ? readSplit(values.split) : undefined;
    const stats = labelStatistics(entries.entries, withoutUndefined({ split }));
    ctx.out(ctx.json ? JSON.stringify(stats) : stats.toText());
  },
};
