/**
 * The project's two images, built and pushed from the lib: versioned tags, a history line per build in
 * `docker/history/<image>.jsonl`.
 *
 * @module
 */
import { join } from "node:path";
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { DockerClient } from "./client.ts";
import { splitImageRef } from "./format.ts";
import type { DockerProgressEvent, RegistryAuth } from "./format.ts";
import { buildContext, dockerfilePath, PROJECT_ROOT } from "./context.ts";
import type { ImageKind } from "./context.ts";
import { Progress, type ProgressMode } from "../progress.ts";

/** Options for {@linkcode buildImage}. */
export interface BuildImageOptions {
  /** Engine to use. @default `DockerClient.connect()` (closed afterwards) */
  docker?: DockerClient | undefined;
  /** Base image (`BASE` build argument). @default the Dockerfile's own default */
  base?: string | undefined;
  /** Image name. @default `cxr-training` / `cxr-scoring` */
  name?: string | undefined;
  /** Tag. @default {@linkcode projectVersionTag}() */
  tag?: string | undefined;
  /** Also tag the image `latest`. @default true */
  latest?: boolean | undefined;
  /** Model bundle baked into the scoring image at `/model`. @default none (mount one at run time) */
  model?: string | undefined;
  /** Install `@tensorflow/tfjs-node-gpu` in the training image. @default true, false with `onnxCuda` */
  tfjsNodeGpu?: boolean | undefined;
  /**
   * Fetch ONNX Runtime's CUDA 12 provider into the training image (from NuGet, at build time) for `train --gpus`.
   * Its base must carry CUDA 12 and cuDNN 9: the default base becomes {@linkcode ONNX_CUDA_BASE}, and
   * tfjs-node-gpu, which needs CUDA 11.2, is left out. @default false
   */
  onnxCuda?: boolean | undefined;
  /** Project folder. @default {@linkcode PROJECT_ROOT} */
  root?: string | undefined;
  /** Folder of `<image>.jsonl` history files, or `false` for none. @default `<root>/docker/history` */
  historyDir?: string | false | undefined;
  /** Ignore the layer cache. @default false */
  noCache?: boolean | undefined;
  /** Build progress events. */
  onProgress?: ((event: DockerProgressEvent) => void) | undefined;
  /** Show progress (context upload, then steps) with {@linkcode Progress}: a bar, lines, or live in Jupyter. */
  progress?: boolean | undefined;
}

/** The training image's base with `onnxCuda`: CUDA 12 and cuDNN 9, what onnxruntime-node 1.30's provider loads. */
export const ONNX_CUDA_BASE = "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04";

/**
 * The build arguments of `kind`'s image for these options (`BASE`, `TFJS_NODE_GPU`, `ONNX_CUDA`).
 *
 * @throws {TypeError} for options that cannot go together.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(imageBuildArgs("training", {}), { TFJS_NODE_GPU: "1", ONNX_CUDA: "0" });
 * assert.deepEqual(imageBuildArgs("training", { onnxCuda: true }), {
 *   BASE: ONNX_CUDA_BASE, TFJS_NODE_GPU: "0", ONNX_CUDA: "1",
 * });
 * assert.throws(() => imageBuildArgs("training", { onnxCuda: true, tfjsNodeGpu: true }), /CUDA 11\.2/);
 * assert.throws(() => imageBuildArgs("scoring", { onnxCuda: true }), /training image only/);
 * ```
 */
export function imageBuildArgs(
  kind: ImageKind,
  options: Pick<BuildImageOptions, "base" | "tfjsNodeGpu" | "onnxCuda">,
): Record<string, string> {
  const args: Record<string, string> = {};
  if (options.onnxCuda && kind !== "training") {
    throw new TypeError("onnxCuda applies to the training image only");
  }
  if (options.onnxCuda && options.tfjsNodeGpu) {
    throw new TypeError(
      "onnxCuda and tfjsNodeGpu cannot share an image: ONNX Runtime's CUDA provider needs CUDA 12 and cuDNN 9, " +
        "tfjs-node-gpu 4.22 needs CUDA 11.2 and cuDNN 8; build two images",
    );
  }
  const base = options.base ?? (options.onnxCuda ? ONNX_CUDA_BASE : undefined);
  if (base) args.BASE = base;
  if (kind === "training") {
    args.TFJS_NODE_GPU = options.tfjsNodeGpu === false || options.onnxCuda ? "0" : "1";
    args.ONNX_CUDA = options.onnxCuda ? "1" : "0";
  }
  return args;
}

/** One build, as recorded in the history file. */
export interface ImageBuildRecord {
  kind: ImageKind;
  /** `name:tag`. */
  image: string;
  id: string;
  /** Bytes, all layers. */
  size: number;
  layers: number;
  base: string;
  built: string;
  seconds: number;
  contextBytes: number;
  steps: number;
  cachedSteps: number;
}

/**
 * A versioned tag: `<version>-<commit, 7 characters>-<yyyymmdd>` (UTC date, default today).
 *
 * @throws {TypeError} when the parts would not make a valid Docker tag.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(versionTag("0.1.0", "3eb8dfe0c1", { date: new Date("2026-11-26T02:00:00Z") }), "0.1.0-3eb8dfe-20261126");
 * assert.throws(() => versionTag("0.1 beta", "x"), TypeError);
 * ```
 */
export function versionTag(version: string, commit: string, options: { date?: Date } = {}): string {
  const day = (options.date ?? new Date()).toISOString().slice(0, 10).replaceAll("-", "");
  const tag = `${version}-${commit.slice(0, 7)}-${day}`;
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) {
    throw new TypeError(`"${tag}" is not a valid image tag (letters, digits, _ . - only)`);
  }
  return tag;
}

/**
 * The versioned tag of the project in `root` as it is now: `deno.json`'s `version`, `git rev-parse --short
 * HEAD` (`nogit` outside a git checkout), today.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(await projectVersionTag(), /^\d+\.\d+\.\d+-([0-9a-f]{7}|nogit)-\d{8}$/);
 * ```
 */
export async function projectVersionTag(root: string = PROJECT_ROOT): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  let commit = "nogit";
  try {
    const args = ["rev-parse", "--short=7", "HEAD"];
    const out = await new Deno.Command("git", { args, cwd: root, stderr: "null" }).output();
    if (out.success) commit = new TextDecoder().decode(out.stdout).trim();
  } catch { /* no git */ }
  return versionTag(String(config.version ?? "0.0.0"), commit);
}

/**
 * Builds the project's `training` or `scoring` image through the Engine API and records it in the history.
 *
 * @throws {DockerBuildError} naming the failing step; {@linkcode DockerUnavailableError} without an engine.
 * @example
 * ```ts ignore
 * const built = await buildImage("scoring", { base: "cxr-local/bookworm:base", model: "data/train-demo/run/best" });
 * console.log(built.image, built.size);
 * ```
 */
export async function buildImage(
  kind: ImageKind,
  options: BuildImageOptions = {},
): Promise<ImageBuildRecord> {
  const root = options.root ?? PROJECT_ROOT;
  const name = options.name ?? `cxr-${kind}`;
  const tag = options.tag || await projectVersionTag(root);
  const image = `${name}:${tag}`;
  const buildArgs = imageBuildArgs(kind, options);
  const docker = options.docker ?? await DockerClient.connect();
  const shown = options.progress ? buildProgress(kind) : undefined;
  try {
    const started = performance.now();
    const context = await buildContext(kind, { root, model: options.model });
    const result = await docker.build(context, {
      dockerfile: dockerfilePath(kind),
      tags: options.latest === false ? [image] : [image, `${name}:latest`],
      buildArgs,
      labels: { "org.opencontainers.image.title": name, "org.opencontainers.image.version": tag },
      noCache: options.noCache,
      onProgress: (e) => {
        shown?.onProgress(e);
        options.onProgress?.(e);
      },
    });
    const seconds = Math.round((performance.now() - started) / 100) / 10;
    const info = await docker.inspectImage(image);
    const layers = await docker.history(image);
    const record: ImageBuildRecord = {
      kind,
      image,
      id: result.id,
      size: info.size,
      layers: layers.length,
      base: buildArgs.BASE ?? "(Dockerfile default)",
      built: new Date().toISOString(),
      seconds,
      contextBytes: result.contextBytes,
      steps: result.steps,
      cachedSteps: result.cachedSteps,
    };
    if (options.historyDir !== false) {
      const dir = options.historyDir ?? join(root, "docker/history");
      await mkdir(dir, { recursive: true });
      await appendFile(join(dir, `${name}.jsonl`), JSON.stringify(record) + "\n");
    }
    return record;
  } finally {
    shown?.finish();
    if (!options.docker) docker.close();
  }
}

/**
 * Turns build events into two {@linkcode Progress} displays (`mode` and `write` as it takes them): context
 * bytes sent, then Dockerfile steps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const p = buildProgress("scoring", { mode: "lines", write: (t) => lines.push(t) });
 * p.onProgress({ phase: "context", bytes: 1024 });
 * p.onProgress({ phase: "step", step: 1, steps: 2, instruction: "FROM base" });
 * p.finish();
 * assert.ok(lines.some((l) => l.includes("build scoring image")));
 * ```
 */
export function buildProgress(
  kind: ImageKind,
  options: { mode?: ProgressMode; write?: (text: string) => void } = {},
): { onProgress: (e: DockerProgressEvent) => void; finish(): void } {
  let steps: Progress | undefined;
  const context = new Progress({ label: `${kind} build context`, unit: "bytes", ...options });
  return {
    onProgress(e) {
      if (e.phase === "context") context.update(e.bytes);
      else if (e.phase === "step") {
        if (!steps) {
          context.finish();
          steps = new Progress({ label: `build ${kind} image`, total: e.steps, unit: "items", ...options });
        }
        steps.update(e.step - 1, e.steps, e.instruction.slice(0, 60));
      }
    },
    finish() {
      context.finish();
      steps?.finish();
    },
  };
}

/**
 * Reads the build history of one image name (e.g. `cxr-scoring`), oldest first; an absent file is an empty
 * history.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(await readImageHistory(Deno.makeTempDirSync(), "cxr-scoring"), []);
 * ```
 */
export async function readImageHistory(dir: string, name: string): Promise<ImageBuildRecord[]> {
  let text: string;
  try {
    text = await readFile(join(dir, `${name}.jsonl`), "utf8");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return [];
    throw e;
  }
  return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l) as ImageBuildRecord);
}

/**
 * Tags `image` into `registry` (e.g. `127.0.0.1:5000` or `myacr.azurecr.io`) and pushes it there; returns the
 * remote reference and the pushed digest. `auth` is sent as a header, never printed.
 *
 * @throws {DockerApiError} when the registry refuses (message without credentials).
 * @example
 * ```ts ignore
 * const pushed = await pushImage("cxr-scoring:latest", "127.0.0.1:5000");
 * ```
 */
export async function pushImage(
  image: string,
  registry: string,
  options: {
    docker?: DockerClient;
    auth?: RegistryAuth | undefined;
    onProgress?: (e: DockerProgressEvent) => void;
  } = {},
): Promise<{ image: string; digest: string }> {
  if (!/^[A-Za-z0-9.-]+(:\d+)?$/.test(registry)) {
    throw new TypeError(
      `Registry "${registry}" should be a host[:port], e.g. 127.0.0.1:5000 or myacr.azurecr.io`,
    );
  }
  const [repo, tag] = splitImageRef(image);
  const remote = `${registry}/${repo.split("/").pop()}:${tag}`;
  const docker = options.docker ?? await DockerClient.connect();
  try {
    const [remoteRepo] = splitImageRef(remote);
    await docker.tag(image, remoteRepo, tag);
    const { digest } = await docker.push(remote, options);
    return { image: remote, digest };
  } finally {
    if (!options.docker) docker.close();
  }
}
