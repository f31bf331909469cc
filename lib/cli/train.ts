/**
 * `deno task cxr train`: fits a DenseNet on the preprocessed cache, with checkpoints, `best/` and resume.
 *
 * @module
 */
import {
  asUsageError,
  choiceOption,
  type Command,
  intOption,
  numberOption,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import { BACKENDS, selectBackend, weightsProgress } from "../model/mod.ts";
import {
  ARCHITECTURES,
  checkInit,
  defaultInit,
  train,
  TRAIN_ENGINES,
  trainingDisplay,
} from "../train/mod.ts";

/**
 * The `train` command. With `--json` it prints
 * `{"backend","engine","workers","epochs","best":{"epoch","val_loss","mean_auroc"},"bundle","history","resumedFrom","stoppedEarly",...}`.
 */
export const trainCommand: Command = {
  name: "train",
  summary: "Train DenseNet-121 (or the tiny demo DenseNet) on the preprocessed cache, resuming after a kill.",
  details: "Reads <cache>/train.* and <cache>/val.* (build them with `preprocess`). Writes " +
    "<out>/checkpoints/epoch-NNN-val-L/ after every epoch (model bundle + optimizer + training state), " +
    "<out>/best/ (the bundle with the lowest validation loss) and <out>/history.jsonl (one JSON line per " +
    "epoch: loss, val_loss, per-class val_auroc, mean_auroc, lr, seconds, images/s). Run the same command " +
    "again after an interruption and it continues from the newest checkpoint. On the CPU backends (wasm, " +
    "cpu) the forward and backward passes and validation run on ONNX Runtime (--engine onnx, the default " +
    "there: several times faster than tfjs), in micro-batches of 8 at 224 pixels (about 3.6 GB each), on " +
    "--workers data-parallel sessions (one per core as memory allows); the optimizer and checkpoints stay on " +
    "tfjs. --gpus 0,1 trains the same way on NVIDIA GPUs, one session each. With --engine tfjs, wasm splits the batch into " +
    "micro-batches that fit its 4 GB heap (8 at 224 pixels) and --workers N runs the micro-batches of each " +
    "step on N threads at once (this one and N-1 workers with their own backend). Either way the gradients " +
    "of the micro-batches are accumulated, and the result is that of one thread with the same --batch and " +
    "--micro-batch.\n" +
    "--init imagenet (densenet121's default) starts from Keras Applications' DenseNet-121 ImageNet weights " +
    "(densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5, md5 4912a53fbd2a69346e7f2c0b5ec8c6d3), " +
    "downloaded once from CXR_WEIGHTS_BASE_URL (default: Keras Applications' location) into " +
    "CXR_WEIGHTS_CACHE (default ~/.cache/cxr/weights), resumable and md5-checked; the head starts fresh. " +
    "Offline, put the file there by hand. --init FILE.h5 loads any Keras HDF5 weights whose layer names " +
    "match (weights it lacks are listed and stay random). --freeze backbone trains only the head; " +
    "--freeze LAYER (e.g. conv5_block1_0_bn) trains that layer and everything after it; frozen BatchNorm " +
    "layers use their moving statistics. The bundle's metadata records the init (file, md5, URL) and freeze.",
  options: {
    cache: { valueName: "DIR", description: "The preprocessed cache.", required: true },
    out: { valueName: "DIR", description: "Output folder.", required: true },
    epochs: { valueName: "N", description: "Epochs in all.", defaultText: "10" },
    batch: { valueName: "N", description: "Images per optimizer step.", defaultText: "16" },
    "micro-batch": {
      valueName: "N",
      description: "Images per forward/backward pass (gradients accumulate to --batch).",
      defaultText: "on onnx and wasm 8 at 224 px (8 x (224/size)^2), else --batch",
    },
    engine: {
      valueName: "auto|onnx|tfjs",
      description: "What computes the gradients: ONNX Runtime (onnx) or the tfjs backend (tfjs).",
      defaultText: "auto: onnx on the wasm and cpu backends, tfjs on tensorflow and webgpu",
    },
    workers: {
      valueName: "N|auto",
      description: "Data-parallel gradient workers, this thread included: on onnx one ONNX Runtime session " +
        "each on cores/N threads, on tfjs one backend (wasm heap) each; the same result as 1.",
      defaultText:
        "auto: on onnx one per core as memory allows (450 MB per image at 224 px), on tfjs every " +
        "core on wasm and cpu from 128 px up, else 1",
    },
    gpus: {
      valueName: "0,1,...",
      description:
        "Train on these NVIDIA GPUs: the onnx engine on ONNX Runtime's cuda provider, one worker " +
        "per GPU (needs onnxruntime-node's CUDA provider library: `deno install --allow-scripts=npm:onnxruntime-node`, " +
        "or the training image built with --onnx-cuda; `cxr gpu-smoke` checks a step on each GPU).",
    },
    lr: { valueName: "X", description: "Adam's initial learning rate.", defaultText: "0.001" },
    backend: {
      valueName: "NAME",
      description: `Compute backend: auto, ${BACKENDS.join(", ")}.`,
      defaultText: "auto",
    },
    arch: { valueName: "NAME", description: ARCHITECTURES.join(" or "), defaultText: "densenet121" },
    seed: { valueName: "S", description: "Seed of shuffling and augmentation.", defaultText: "0" },
    init: {
      valueName: "imagenet|none|FILE.h5",
      description: "Starting weights: ImageNet (densenet121 only), random, or a Keras HDF5 file.",
      defaultText: "imagenet for densenet121, none for tiny",
    },
    freeze: {
      valueName: "backbone|none|LAYER",
      description: "Keep layers fixed: all but the head, none, or all before LAYER.",
      defaultText: "none",
    },
    "weighted-loss": { description: "Weight the loss per class by label frequency (CheXNet)." },
    "no-augment": { description: "Train on the images as cached (no flip/rotate/scale)." },
    patience: {
      valueName: "N",
      description: "Stop after N epochs without validation-loss improvement.",
      defaultText: "10",
    },
    resume: { description: "Continue from the newest checkpoint (the default)." },
    "no-resume": { description: "Start afresh even if checkpoints exist." },
  },
  async run(values, ctx) {
    if (values.resume && values["no-resume"]) {
      throw new UsageError("--resume and --no-resume exclude each other");
    }
    const cache = stringOption(values, "cache");
    const out = stringOption(values, "out");
    const epochs = intOption(values, "epochs", { min: 1, max: 100_000, fallback: 10 });
    const batchSize = intOption(values, "batch", { min: 1, max: 65_536, fallback: 16 });
    const microBatch = intOption(values, "micro-batch", { min: 1, max: batchSize, optional: true });
    const lr = numberOption(values, "lr", { min: 1e-12, max: 10, fallback: 1e-3 });
    const backendName = choiceOption(values, "backend", ["auto", ...BACKENDS] as const, "auto");
    const arch = choiceOption(values, "arch", ARCHITECTURES, "densenet121");
    const seed = intOption(values, "seed", { min: 0, max: 2 ** 32 - 1, fallback: 0 });
    const patience = intOption(values, "patience", { min: 1, max: 100_000, fallback: 10 });
    const init = stringOption(values, "init", defaultInit(arch));
    asUsageError(() => checkInit(arch, init), (m) => m.replace(/^train: /, ""));
    const freeze = stringOption(values, "freeze", "none");
    const download = weightsProgress();
    const workers = values.workers === undefined || values.workers === "auto"
      ? "auto"
      : intOption(values, "workers", { min: 1, max: 256 });
    const engine = choiceOption(values, "engine", TRAIN_ENGINES, "auto");
    const gpus = values.gpus === undefined ? undefined : gpuList(String(values.gpus));
    if (gpus && engine === "tfjs") {
      throw new UsageError("--gpus trains on the onnx engine; drop --engine tfjs");
    }
    const backend = await selectBackend(backendName);
    ctx.err(`backend: ${backend.name} (${backend.reason})`);
    const show = trainingDisplay({ write: ctx.err });
    const summary = await train(cache, out, {
      epochs,
      batchSize,
      ...withoutUndefined({ microBatch, augment: values["no-augment"] ? null : undefined, gpus }),
      workers,
      engine,
      lr,
      arch,
      seed,
      patience,
      weightedLoss: values["weighted-loss"] === true,
      resume: values["no-resume"] !== true,
      init,
      freeze,
      pretrained: { onProgress: download.onProgress },
      onProgress: (event) => {
        if (event.type === "init") download.finish();
        show(event);
      },
    }).finally(() => download.finish());
    if (ctx.json) {
      ctx.out(JSON.stringify(summary));
      return;
    }
    const b = summary.best;
    const auroc = b.mean_auroc === null ? "undefined" : b.mean_auroc.toFixed(4);
    ctx.out(
      `best epoch ${b.epoch} of ${summary.epochs}: val_loss ${b.val_loss.toFixed(4)}, mean AUROC ${auroc}`,
    );
    ctx.out(`model bundle: ${summary.bundle}`);
    ctx.out(`history: ${summary.history}`);
  },
};

/** `0,1,3` as GPU indices; a usage error for anything else. */
function gpuList(text: string): number[] {
  const gpus = text.split(",").map((g) => g.trim());
  if (gpus.some((g) => !/^\d+$/.test(g)) || new Set(gpus).size < gpus.length) {
    throw new UsageError(`--gpus wants distinct GPU indices such as 0,1, got "${text}"`);
  }
  return gpus.map(Number);
}
