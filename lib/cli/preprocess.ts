/**
 * `deno task cxr preprocess`: decode and resize the NIH PNGs of each partition of a split into the
 * preprocessed cache (`cxr-cache/1`), resumably; `--shard i/N` builds one slice, `--merge` joins the shards.
 * Images of the split not in `--data`/images are skipped and reported in one line; images there that cannot be
 * decoded are listed and make the exit code 1, after everything else is cached.
 *
 * @module
 */
import {
  asUsageError,
  type Command,
  type CommandContext,
  intOption,
  optionalString,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import { type Partition, PARTITIONS } from "../nih/split_file.ts";
import {
  type CacheFailure,
  cacheStem,
  describeMissingImages,
  mergeShards,
  preprocessWithBlobs,
  RESIZE_KERNEL,
} from "../images/mod.ts";
import { Progress } from "../progress.ts";
import { parseShard } from "../shard.ts";

function parsePartitions(values: Record<string, unknown>): Partition[] {
  const v = values.partition;
  if (v === undefined) return [...PARTITIONS];
  const list = String(v).split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const p of list) {
    if (!(PARTITIONS as readonly string[]).includes(p)) {
      throw new UsageError(
        `--partition must be a comma-separated list of ${PARTITIONS.join(", ")}; got "${p}"`,
      );
    }
  }
  if (list.length === 0) throw new UsageError(`--partition is empty (choose from ${PARTITIONS.join(", ")})`);
  return PARTITIONS.filter((p) => list.includes(p));
}

function merge(out: string, partitions: Partition[], ctx: CommandContext): void {
  const results = Object.fromEntries(partitions.map((p) => {
    const r = mergeShards(out, p);
    return [p, { images: r.images, failed: r.failed, shards: r.shards }];
  }));
  if (ctx.json) {
    ctx.out(JSON.stringify({ merged: true, partitions: results, out }));
    return;
  }
  for (const [p, r] of Object.entries(results)) {
    ctx.out(`${p}: merged ${r.shards} shards, ${r.images} images (${r.failed} failed) into ${out}/${p}.bin`);
  }
}

/** Failed images listed on stderr, at most this many (the index's `failed` list has them all). */
const FAILURES_SHOWN = 20;

function reportFailures(
  failures: (CacheFailure & { stem: string })[],
  out: string,
  ctx: CommandContext,
): void {
  ctx.err(
    `error: ${failures.length} image${failures.length === 1 ? "" : "s"} in the images folder could not be ` +
      `decoded; the others are cached, these are listed under "failed" in the index in ${out}:`,
  );
  for (const f of failures.slice(0, FAILURES_SHOWN)) ctx.err(`  ${f.name} (${f.stem}): ${f.reason}`);
  if (failures.length > FAILURES_SHOWN) ctx.err(`  ... and ${failures.length - FAILURES_SHOWN} more`);
}

/**
 * The `preprocess` command. With `--json` it prints `{partitions: {train: {images, failed, missing, seconds,
 * resumed, alreadyBuilt, failures}}, missing: {count, imagesDir, archives}, out, size}`. Exit code 1 if an
 * image present could not be decoded; missing images only warn.
 */
export const preprocessCommand: Command = {
  name: "preprocess",
  summary:
    "Decode and resize the images of a split into the preprocessed cache (one .bin + .json per partition).",
  details:
    `Grey and RGBA PNGs become 8-bit grey, resized with sharp's ${RESIZE_KERNEL} kernel. Images of the split ` +
    "that are not in --data/images (e.g. after data fetch --only 1) are skipped and reported in one warning " +
    "line, with the archives that hold them; they are not failures (data split --present splits only the " +
    "images you have). Images there that cannot be decoded are listed at the end and in the index's failed " +
    "list; the run goes on, caches the rest, and exits with code 1. An " +
    "interrupted run continues where it stopped; files get their final names only when complete. " +
    "--shard i/N (0-based) builds only the i-th of N contiguous slices of each partition as " +
    "<partition>.shard-i-of-N.{bin,json}; env/N takes i from $JOB_COMPLETION_INDEX (a Kubernetes Indexed " +
    "Job's pod). --merge --out DIR then concatenates the complete shards. In a Job, --from-blob PREFIX " +
    "first downloads only the shard's images from the images container into --data/images, and " +
    "--to-blob PREFIX uploads the shard's cache files to the models container.",
  options: {
    data: { valueName: "DIR", description: "Data folder in the NIH layout (images/, labels)." },
    split: { valueName: "FILE", description: "Split file (cxr-split/1)." },
    out: { valueName: "DIR", required: true, description: "Cache folder to write." },
    entries: {
      valueName: "FILE",
      description: "Label file.",
      defaultText: "Data_Entry_2017*.csv(.gz) in --data",
    },
    size: { valueName: "PX", description: "Side of the output images.", defaultText: "224" },
    workers: { valueName: "N", description: "Images decoded at once.", defaultText: "2" },
    partition: {
      valueName: "LIST",
      description: "Partitions to build, comma-separated.",
      defaultText: "train,val,test",
    },
    shard: { valueName: "i/N", description: "Build only shard i (0-based) of N of each partition." },
    merge: { description: "Merge the complete shards in --out instead of preprocessing." },
    "from-blob": {
      valueName: "PREFIX",
      description:
        'First download the images needed (only the shard\'s) from the images container ("" = top).',
    },
    "to-blob": {
      valueName: "PREFIX",
      description: "Then upload the cache files written to the models container under PREFIX.",
    },
  },
  async run(values, ctx) {
    const out = stringOption(values, "out");
    const partitions = parsePartitions(values);
    if (values.merge) {
      for (const o of ["data", "split", "shard", "entries", "from-blob", "to-blob"]) {
        if (values[o] !== undefined) throw new UsageError(`--${o} does not apply to --merge`);
      }
      merge(out, partitions, ctx);
      return;
    }
    const data = stringOption(values, "data");
    const split = stringOption(values, "split");
    const size = intOption(values, "size", { min: 8, max: 4096, fallback: 224 });
    const workers = intOption(values, "workers", { min: 1, max: 64, fallback: 2 });
    const shardSpec = optionalString(values, "shard");
    const shard = shardSpec === undefined ? undefined : asUsageError(
      () => parseShard(shardSpec),
      (m) => `--shard must be i/N with 0 <= i < N (0-based, e.g. 0/4) or env/N: ${m}`,
    );
    const bars = new Map<string, Progress>();
    const summary = await preprocessWithBlobs(data, out, {
      split,
      partitions,
      size,
      concurrency: workers,
      ...withoutUndefined({
        entries: optionalString(values, "entries"),
        shard,
        fromBlob: optionalString(values, "from-blob"),
        toBlob: optionalString(values, "to-blob"),
      }),
      onProgress: (e) => {
        let bar = bars.get(e.stem);
        if (!bar) bars.set(e.stem, bar = new Progress({ label: `preprocess ${e.stem}`, total: e.total }));
        bar.update(e.done, e.total, e.failed > 0 ? `${e.failed} failed` : undefined);
      },
    });
    for (const bar of bars.values()) bar.finish();
    const { missing, fetched, uploaded } = summary;
    if (missing.count > 0) ctx.err(`warning: ${describeMissingImages(missing)}`);
    const failures = Object.entries(summary.partitions).flatMap(([p, s]) =>
      s.failures.map((f) => ({ ...f, stem: cacheStem(p as Partition, shard) }))
    );
    if (failures.length > 0) reportFailures(failures, out, ctx);
    const code = failures.length > 0 ? 1 : 0;
    if (ctx.json) {
      const partitionsOut = Object.fromEntries(
        Object.entries(summary.partitions).map(([p, s]) => [p, {
          images: s.images,
          failed: s.failed,
          missing: s.missing,
          seconds: s.seconds,
          resumed: s.resumed,
          alreadyBuilt: s.alreadyBuilt,
          failures: s.failures,
        }]),
      );
      ctx.out(JSON.stringify({
        partitions: partitionsOut,
        missing: { count: missing.count, imagesDir: missing.imagesDir, archives: missing.archives },
        out,
        size,
        ...withoutUndefined({ shard, fetched, uploaded }),
      }));
      return code;
    }
    const count = (n: number) => n.toLocaleString("en-US");
    for (const [p, s] of Object.entries(summary.partitions)) {
      const how = s.alreadyBuilt
        ? "built earlier, reused"
        : `built in ${s.seconds} s${s.resumed ? `, ${count(s.resumed)} kept from the interrupted run` : ""}`;
      const skipped = s.missing ? `, ${count(s.missing)} not present` : "";
      ctx.out(`${p}: ${count(s.images)} images cached, ${count(s.failed)} failed${skipped} (${how})`);
    }
    ctx.out(`cache ${size}x${size} in ${out}`);
    if (fetched) {
      ctx.out(`images from blob: ${fetched.downloaded} downloaded, ${fetched.skipped} already here`);
    }
    if (uploaded) ctx.out(`uploaded ${uploaded.blobs.length} cache files to ${uploaded.container}`);
    return code;
  },
};
