/**
 * A bundle's metadata and card changed in place (a recorded evaluation), and its card read for display.
 * Weights are never touched: only `metadata.json` and `MODEL_CARD.md` are replaced, each atomically.
 *
 * @module
 */
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { JUPYTER_DISPLAY } from "../display.ts";
import { type BundleMetadata, parseBundleMetadata } from "./bundle_format.ts";
import { METADATA_JSON, readBundleMetadata } from "./bundle.ts";
import { MODEL_CARD_MD, modelCard } from "./model_card.ts";
import { ModelError } from "./errors.ts";

const READ_ONLY = ["EACCES", "EPERM", "EROFS"];

/**
 * The bundle folder cannot be written (read-only file system, a mounted or baked-in bundle, another owner).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(new BundleReadOnlyError("read-only", "/model").dir, "/model");
 * ```
 */
export class BundleReadOnlyError extends ModelError {
  constructor(message: string, readonly dir: string, options?: ErrorOptions) {
    super(message, options);
  }
}

function readOnly(dir: string, e: unknown): BundleReadOnlyError | unknown {
  const code = (e as NodeJS.ErrnoException)?.code ?? "";
  if (!READ_ONLY.includes(code)) return e;
  const abs = resolve(dir);
  return new BundleReadOnlyError(
    `Bundle folder "${abs}" is read-only (${code}): nothing was recorded in it; ` +
      "copy the bundle to a writable folder to record there",
    abs,
    { cause: e },
  );
}

/**
 * Checks that files can be written into a bundle folder (by writing and removing a small file), so a long
 * job that will record into it fails before it starts rather than after.
 *
 * @throws {BundleReadOnlyError} when the folder is read-only to this process.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * await checkBundleWritable(dir);
 * assert.deepEqual([...Deno.readDirSync(dir)], []); // the probe is gone
 * ```
 */
export async function checkBundleWritable(dir: string): Promise<void> {
  const probe = join(dir, `.write-check-${crypto.randomUUID().slice(0, 8)}`);
  try {
    await writeFile(probe, "");
  } catch (e) {
    throw readOnly(dir, e);
  }
  await rm(probe, { force: true });
}

/**
 * Changes a bundle's metadata and re-renders `MODEL_CARD.md` from it. Each file is written beside itself
 * and renamed over the old one (metadata first, so a card never claims what the metadata lacks); the new
 * metadata is validated before anything is written.
 *
 * @param update returns the new metadata from the current one (must not change the class names or input).
 * @returns the metadata written.
 * @throws {BundleReadOnlyError} when the folder is read-only; nothing is changed then.
 * @throws {RangeError} when `update` changes class names, input size or channels.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readFileSync } from "node:fs";
 * import { createDenseNet, saveBundle } from "./mod.ts";
 * const dir = Deno.makeTempDirSync() + "/b";
 * await saveBundle(createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 }), dir, { modelVersion: "v1" });
 * await updateBundleMetadata(dir, (m) => ({ ...m, metrics: { ...m.metrics, test_auroc: 0.8 } }));
 * assert.match(readFileSync(`${dir}/MODEL_CARD.md`, "utf8"), /\| test_auroc \| 0\.8000 \|/);
 * ```
 */
export async function updateBundleMetadata(
  dir: string,
  update: (metadata: BundleMetadata) => BundleMetadata,
): Promise<BundleMetadata> {
  const before = await readBundleMetadata(dir);
  const next = update(structuredClone(before));
  for (const k of ["classNames", "inputSize", "channels"] as const) {
    if (JSON.stringify(next[k]) !== JSON.stringify(before[k])) {
      throw new RangeError(`updateBundleMetadata: ${k} cannot change in place (the weights define it)`);
    }
  }
  const text = JSON.stringify(next, null, 2) + "\n";
  const metadata = parseBundleMetadata(text, join(dir, METADATA_JSON)); // what a reader will get back
  const stamp = crypto.randomUUID().slice(0, 8);
  const files = [{ name: METADATA_JSON, content: text }, {
    name: MODEL_CARD_MD,
    content: modelCard(metadata),
  }]
    .map((f) => ({ ...f, temp: join(dir, `.${f.name}.tmp-${stamp}`) }));
  try {
    for (const f of files) await writeFile(f.temp, f.content);
    for (const f of files) await rename(f.temp, join(dir, f.name));
  } catch (e) {
    await Promise.all(files.map((f) => rm(f.temp, { force: true })));
    throw readOnly(dir, e);
  }
  return metadata;
}

/**
 * A bundle's model card: its Markdown text, and the metadata it was written from. In Jupyter it renders as
 * Markdown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUPYTER_DISPLAY } from "../display.ts";
 * const card = new ModelCard("# Model card: v1\n", null);
 * assert.deepEqual(card[JUPYTER_DISPLAY](), { "text/markdown": "# Model card: v1\n" });
 * assert.equal(String(card), "# Model card: v1\n");
 * ```
 */
export class ModelCard {
  /**
   * @param text The Markdown text.
   * @param metadata The bundle's metadata, or `null` when not read.
   */
  constructor(readonly text: string, readonly metadata: BundleMetadata | null) {}
  /** The text. */
  toString(): string {
    return this.text;
  }
  /** Jupyter's MIME bundle: the card as Markdown. */
  [JUPYTER_DISPLAY](): Record<string, string> {
    return { "text/markdown": this.text };
  }
}

/**
 * Reads a bundle's `MODEL_CARD.md`, or renders it from `metadata.json` for a bundle written before cards.
 *
 * @throws a Node `ENOENT` error when the bundle has no metadata (use `requireBundle` first for a clear one).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, saveBundle } from "./mod.ts";
 * const dir = Deno.makeTempDirSync() + "/b";
 * await saveBundle(createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 }), dir, { modelVersion: "v1" });
 * Deno.removeSync(`${dir}/MODEL_CARD.md`);
 * assert.match((await readModelCard(dir)).text, /^# Model card: v1/);
 * ```
 */
export async function readModelCard(dir: string): Promise<ModelCard> {
  const metadata = await readBundleMetadata(dir);
  try {
    return new ModelCard(await readFile(join(dir, MODEL_CARD_MD), "utf8"), metadata);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    return new ModelCard(modelCard(metadata), metadata);
  }
}
