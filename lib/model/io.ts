/**
 * Saving and loading tfjs layers models (`model.json` + `weights.bin`) on the local file system from Deno,
 * where tfjs' own `file://` handler (part of tfjs-node) is not available.
 *
 * @module
 */
import { mkdir, readFile, realpath, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { tf, tfl } from "./tf.ts";
import { ModelError } from "./errors.ts";

/** File names inside a saved model folder. */
export const MODEL_JSON = "model.json";
/** The single weights shard written by {@link writeModelArtifacts}. */
export const WEIGHTS_BIN = "weights.bin";

/**
 * A `model.json` (or one of its shards) could not be read or does not describe a tfjs layers model.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const e = new ModelFileError("Cannot read model from \"m/model.json\"", "m/model.json");
 * assert.equal(e.file, "m/model.json");
 * ```
 */
export class ModelFileError extends ModelError {
  constructor(message: string, readonly file: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * Writes model artifacts (from a save handler) into an existing folder as `model.json` + `weights.bin`.
 * Not atomic by itself: {@link saveModel} and `saveBundle` call it on a temporary folder.
 *
 * @param folder destination folder (must exist).
 * @param artifacts what `model.save(tf.io.withSaveHandler(...))` hands over.
 * @returns the save result tfjs expects.
 * @example
 * ```ts ignore
 * await model.save(tf.io.withSaveHandler((a) => writeModelArtifacts("out", a)));
 * ```
 */
export async function writeModelArtifacts(
  folder: string,
  artifacts: tf.io.ModelArtifacts,
): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer || artifacts.modelTopology === undefined) {
    throw new TypeError("writeModelArtifacts: only JSON model topologies (tfjs layers models) are supported");
  }
  const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
  const modelJson: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? "layers-model",
    generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
    ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
    ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
  };
  const text = JSON.stringify(modelJson);
  await writeFile(join(folder, WEIGHTS_BIN), weights);
  await writeFile(join(folder, MODEL_JSON), text);
  return {
    modelArtifactsInfo: {
      dateSaved: new Date(),
      modelTopologyType: "JSON",
      modelTopologyBytes: text.length,
      weightSpecsBytes: JSON.stringify(modelJson.weightsManifest).length,
      weightDataBytes: weights.byteLength,
    },
  };
}

/**
 * Fills `dir` atomically: `fill` writes into a fresh temporary sibling folder, which then replaces `dir`
 * (an existing `dir` is moved aside first and removed after). Readers never see a half-written folder.
 *
 * @param dir the final folder.
 * @param fill writes the content into the temporary folder it is given.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readFileSync } from "node:fs";
 * const dir = Deno.makeTempDirSync() + "/out";
 * await replaceFolderAtomically(dir, (tmp) => Deno.writeTextFile(tmp + "/a.txt", "hi"));
 * assert.equal(readFileSync(dir + "/a.txt", "utf8"), "hi");
 * ```
 */
export async function replaceFolderAtomically(
  dir: string,
  fill: (tmp: string) => Promise<unknown>,
): Promise<void> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const stamp = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const tmp = join(parent, `.${basename(dir)}.tmp-${stamp}`);
  const old = join(parent, `.${basename(dir)}.old-${stamp}`);
  await mkdir(tmp);
  try {
    await fill(tmp);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  let moved = false;
  try {
    await rename(dir, old);
    moved = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  await rename(tmp, dir);
  if (moved) await rm(old, { recursive: true, force: true });
}

/**
 * Saves a layers model into `dir` (`model.json` + `weights.bin`), replacing the folder atomically.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tfl } from "./tf.ts";
 * const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [2] })] });
 * const dir = Deno.makeTempDirSync() + "/m";
 * await saveModel(model, dir);
 * const copy = await loadModel(dir);
 * assert.equal(copy.countParams(), 3);
 * ```
 */
export async function saveModel(model: tfl.LayersModel, dir: string): Promise<tf.io.SaveResult> {
  let result: tf.io.SaveResult | undefined;
  await replaceFolderAtomically(dir, async (tmp) => {
    result = await model.save(tf.io.withSaveHandler((artifacts) => writeModelArtifacts(tmp, artifacts)));
  });
  return result!;
}

/** Whether `path` is `root` or lies inside it (both absolute and normalised). */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`));
}

/**
 * Where a weights shard named in a model folder's `model.json` lies, refusing a name that leaves the folder:
 * an absolute path, a `../` path, or a symbolic link that resolves outside it. A bundle copied from elsewhere
 * must not make the loader read (and, as weights, leak) files beside or above it.
 *
 * @param dir the model folder.
 * @param path the name as listed in the manifest, e.g. `./weights.bin`.
 * @param manifest the `model.json` that lists it, for the message.
 * @returns the shard's path inside `dir`.
 * @throws {ModelFileError} when the name is not a string or leaves the folder.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const dir = Deno.makeTempDirSync();
 * assert.equal(await weightsShardPath(dir, "./weights.bin", "model.json"), `${dir}/weights.bin`);
 * await assert.rejects(weightsShardPath(dir, "../secret.bin", "model.json"), /leaves the model folder/);
 * await assert.rejects(weightsShardPath(dir, "/etc/passwd", "model.json"), /leaves the model folder/);
 * ```
 */
export async function weightsShardPath(dir: string, path: string, manifest: string): Promise<string> {
  const root = resolve(dir);
  const target = typeof path === "string" && path !== "" ? resolve(root, path) : "";
  const refuse = (why: string) =>
    new ModelFileError(
      `Cannot read weights listed in "${manifest}": ${why}; a weights path must name a file inside the ` +
        `model folder "${root}"`,
      manifest,
    );
  if (!target) throw refuse("a path in weightsManifest is not a file name");
  if (isAbsolute(path) || !inside(root, target) || target === root) {
    throw refuse(`the path "${path}" leaves the model folder`);
  }
  // A symbolic link inside the folder may still point out of it: compare the resolved locations.
  const [realRoot, realTarget] = await Promise.all([
    realpath(root).catch(() => root),
    realpath(target).catch(() => undefined),
  ]);
  if (realTarget !== undefined && !inside(realRoot, realTarget)) {
    throw refuse(`the path "${path}" leaves the model folder (through a symbolic link)`);
  }
  return join(dir, path);
}

/** An IO handler for `tfl.loadLayersModel` that reads `model.json` and its weight shards from a folder. */
function folderHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const file = join(dir, MODEL_JSON);
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await readFile(file, "utf8"));
      } catch (e) {
        throw new ModelFileError(`Cannot read model from "${file}": ${(e as Error).message}`, file, {
          cause: e,
        });
      }
      if (!json || typeof json !== "object" || !json.modelTopology || !Array.isArray(json.weightsManifest)) {
        throw new ModelFileError(
          `Cannot read model from "${file}": expected modelTopology and weightsManifest`,
          file,
        );
      }
      const specs: tf.io.WeightsManifestEntry[] = [];
      const parts: ArrayBuffer[] = [];
      for (const group of json.weightsManifest) {
        if (!Array.isArray(group?.paths) || !Array.isArray(group.weights)) {
          throw new ModelFileError(
            `Cannot read model from "${file}": each weightsManifest entry needs paths and weights lists`,
            file,
          );
        }
        specs.push(...group.weights);
        for (const path of group.paths) {
          const shard = await weightsShardPath(dir, path, file);
          try {
            parts.push(new Uint8Array(await readFile(shard)).buffer);
          } catch (e) {
            throw new ModelFileError(`Cannot read weights "${shard}" listed in "${file}"`, shard, {
              cause: e,
            });
          }
        }
      }
      return tf.io.getModelArtifactsForJSONSync(json, specs, tf.io.CompositeArrayBuffer.join(parts));
    },
  };
}

/**
 * Loads a layers model saved by {@link saveModel} (or any tfjs `model.json` folder, any number of shards).
 *
 * @throws {ModelFileError} when a file is missing, `model.json` is not valid JSON, or its weights manifest
 * names a path outside `dir` (see {@link weightsShardPath}).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * await assert.rejects(loadModel("/nonexistent"), ModelFileError);
 * ```
 */
export async function loadModel(dir: string): Promise<tfl.LayersModel> {
  return await tfl.loadLayersModel(folderHandler(dir));
}
