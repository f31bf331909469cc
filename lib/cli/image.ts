/**
 * `deno task cxr image build|push|ls`: the training and scoring images through the Docker Engine API.
 *
 * @module
 */
import { type Command, optionalString, stringOption, UsageError } from "./command.ts";
import { Progress } from "../progress.ts";
import { Secret } from "../secrets.ts";
import {
  buildImage,
  DockerBuildError,
  IMAGE_KINDS,
  type ImageKind,
  PROJECT_ROOT,
  pushImage,
  readImageHistory,
} from "../docker/mod.ts";
import { join } from "node:path";

/**
 * `image build training|scoring`. With `--json` it prints the build record:
 * `{"kind","image","id","size","layers","base","built","seconds","contextBytes","steps","cachedSteps"}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(imageBuildCommand.name, "image build");
 * assert.equal(imageBuildCommand.options["no-tfjs-node"]?.valueName, undefined); // a flag
 * ```
 */
export const imageBuildCommand: Command = {
  name: "image build",
  summary: "Build the training or scoring image (Docker Engine API), tagged <version>-<commit>-<yyyymmdd>.",
  positionals: "training|scoring",
  details: "The engine is CXR_DOCKER_HOST or DOCKER_HOST (unix:///path), else /var/run/docker.sock. " +
    "The build context is the project with .dockerignore applied (no .env, tests or data). The scoring " +
    "image bakes --model in at /model (or mount a bundle there at run time). Each build is appended to " +
    "docker/history/<name>.jsonl. Build arguments are visible in the image: never pass secrets.",
  options: {
    base: { valueName: "IMAGE", description: "Base image (the BASE build argument)." },
    tag: { valueName: "T", description: "Tag.", defaultText: "<version>-<commit>-<yyyymmdd>" },
    name: { valueName: "N", description: "Image name.", defaultText: "cxr-<kind>" },
    model: { valueName: "DIR", description: "Model bundle to bake into the scoring image." },
    "no-tfjs-node": { description: "Training image without @tensorflow/tfjs-node-gpu." },
    "onnx-cuda": {
      description:
        "Training image for `train --gpus`: ONNX Runtime's CUDA 12 provider (fetched from NuGet at build " +
        "time) on a CUDA 12 + cuDNN 9 base, without tfjs-node-gpu (which needs CUDA 11.2).",
    },
    "no-cache": { description: "Do not use the layer cache." },
    history: { valueName: "DIR", description: "Build records folder.", defaultText: "docker/history" },
  },
  async run(values, ctx) {
    const kind = ctx.positionals[0] as ImageKind;
    if (ctx.positionals.length !== 1 || !IMAGE_KINDS.includes(kind)) {
      throw new UsageError(`expected one image kind: ${IMAGE_KINDS.join(" or ")}`);
    }
    if (values.model !== undefined && kind !== "scoring") {
      throw new UsageError("--model applies to the scoring image only");
    }
    const onnxCuda = values["onnx-cuda"] === true;
    if (onnxCuda && kind !== "training") {
      throw new UsageError("--onnx-cuda applies to the training image only");
    }
    let record;
    try {
      record = await buildImage(kind, {
        base: optionalString(values, "base"),
        tag: optionalString(values, "tag"),
        name: optionalString(values, "name"),
        model: optionalString(values, "model"),
        tfjsNodeGpu: values["no-tfjs-node"] === true ? false : undefined,
        onnxCuda,
        noCache: values["no-cache"] === true,
        historyDir: optionalString(values, "history"),
        progress: true,
      });
    } catch (e) {
      if (e instanceof DockerBuildError) { for (const line of e.output.slice(-15)) ctx.err(`  ${line}`); }
      throw e;
    }
    if (ctx.json) ctx.out(JSON.stringify(record));
    else {
      ctx.out(
        `Built ${record.image} (${record.id.slice(7, 19)}): ${(record.size / 1e6).toFixed(1)} MB, ` +
          `${record.layers} layers, ${record.seconds} s (${record.cachedSteps}/${record.steps} steps cached)`,
      );
    }
  },
};

/**
 * `image push IMAGE --registry R`. Credentials: `--username` with the password in `CXR_REGISTRY_PASSWORD`
 * (never on the command line). With `--json`: `{"image","digest"}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(imagePushCommand.options.registry?.required, true);
 * ```
 */
export const imagePushCommand: Command = {
  name: "image push",
  summary: "Tag an image into a registry (e.g. 127.0.0.1:5000 or <acr>.azurecr.io) and push it.",
  positionals: "IMAGE",
  options: {
    registry: { valueName: "R", description: "Registry host[:port].", required: true },
    username: {
      valueName: "U",
      description: "Registry user; the password is read from CXR_REGISTRY_PASSWORD.",
    },
  },
  async run(values, ctx) {
    const [image] = ctx.positionals;
    if (image === undefined || ctx.positionals.length !== 1) {
      throw new UsageError("expected one IMAGE (name:tag)");
    }
    const registry = stringOption(values, "registry");
    let auth;
    if (typeof values.username === "string") {
      const password = Deno.env.get("CXR_REGISTRY_PASSWORD");
      if (!password) throw new UsageError("--username needs the password in CXR_REGISTRY_PASSWORD");
      auth = { username: values.username, password: new Secret(password), serveraddress: registry };
    }
    const progress = new Progress({ label: `push ${image}`, unit: "bytes" });
    const layers = new Map<string, { current: number; total: number }>();
    const pushed = await pushImage(image, registry, {
      auth,
      onProgress(e) {
        if (e.phase !== "layer" || !e.id || e.total === undefined) return;
        layers.set(e.id, { current: e.current ?? 0, total: e.total });
        let done = 0, total = 0;
        for (const l of layers.values()) (done += l.current, total += l.total);
        progress.update(done, total);
      },
    });
    progress.finish();
    ctx.out(ctx.json ? JSON.stringify(pushed) : `Pushed ${pushed.image} (${pushed.digest})`);
  },
};

/**
 * `image ls [NAME]`: the build history (`docker/history/<name>.jsonl`). With `--json`: `{"builds":[record...]}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(imageListCommand.name, "image ls");
 * ```
 */
export const imageListCommand: Command = {
  name: "image ls",
  summary: "List the images built so far, from docker/history/.",
  positionals: "[NAME...]",
  options: {
    history: { valueName: "DIR", description: "Build records folder.", defaultText: "docker/history" },
  },
  async run(values, ctx) {
    const dir = stringOption(values, "history", join(PROJECT_ROOT, "docker/history"));
    const names = ctx.positionals.length ? ctx.positionals : IMAGE_KINDS.map((k) => `cxr-${k}`);
    const builds = (await Promise.all(names.map((n) => readImageHistory(dir, n))))
      .flat().sort((a, b) => a.built.localeCompare(b.built));
    if (ctx.json) return ctx.out(JSON.stringify({ builds }));
    if (builds.length === 0) {
      return ctx.out("No images built yet (deno task cxr image build training|scoring)");
    }
    for (const b of builds) {
      const megabytes = (b.size / 1e6).toFixed(1).padStart(8);
      ctx.out(`${b.built.slice(0, 19)}  ${b.image.padEnd(40)} ${megabytes} MB  ${b.seconds} s`);
    }
  },
};
