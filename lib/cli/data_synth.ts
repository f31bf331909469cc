/**
 * `deno task cxr data synth`: writes a synthetic data set in the NIH layout (for the demo and for tests).
 *
 * @module
 */
import { type Command, intOption, stringOption, withoutUndefined } from "./command.ts";
import { synthesize } from "../nih/synth.ts";
import { Progress } from "../progress.ts";

/** The `data synth` command. With `--json` it prints the summary `{out, images, patients, counts, seconds, ...}`. */
export const dataSynthCommand: Command = {
  name: "data synth",
  summary: "Write a synthetic chest X-ray data set in the NIH layout (images, labels, boxes, split lists).",
  details: "Grey 8-bit PNGs with one visible pattern per finding, so a small model can learn them, plus " +
    "Data_Entry_2017.csv, BBox_List_2017.csv, train_val_list.txt and test_list.txt. The same seed, size and " +
    "number of images give the same bytes; re-running keeps the PNGs already written.",
  options: {
    out: { valueName: "DIR", description: "Folder to write into.", required: true },
    images: { valueName: "N", description: "Number of images.", required: true },
    seed: { valueName: "S", description: "Seed of labels, split and pixels.", defaultText: "1" },
    size: { valueName: "PX", description: "Side of the square images.", defaultText: "1024" },
    concurrency: {
      valueName: "N",
      description: "Images encoded at once.",
      defaultText: "CPUs + 2, at most 8",
    },
  },
  async run(values, ctx) {
    const out = stringOption(values, "out");
    const images = intOption(values, "images", { min: 1, max: 1_000_000 });
    const seed = intOption(values, "seed", { min: 0, max: 2 ** 32 - 1, fallback: 1 });
    const size = intOption(values, "size", { min: 16, max: 4096, fallback: 1024 });
    const concurrency = intOption(values, "concurrency", { min: 1, max: 256, optional: true });
    const progress = new Progress({ label: "synthesize images", total: images });
    const started = performance.now();
    const summary = await synthesize(out, {
      images,
      seed,
      size,
      ...withoutUndefined({ concurrency }),
      onProgress: (e) => progress.update(e.done, e.total),
    });
    progress.finish();
    const seconds = Math.round((performance.now() - started) / 10) / 100;
    const { patients, counts, written, skipped, trainVal, test, boxes } = summary;
    if (ctx.json) {
      ctx.out(JSON.stringify({ out, images, patients, counts, seconds, seed, size, written, skipped }));
      return;
    }
    ctx.out(
      `${images} images of ${patients} patients in ${out} (${written} written, ${skipped} kept) in ${seconds} s`,
    );
    ctx.out(`split: ${trainVal} train/val, ${test} test; ${boxes} boxes`);
    for (const [label, n] of Object.entries(counts)) ctx.out(`  ${label.padEnd(20)} ${n}`);
  },
};
