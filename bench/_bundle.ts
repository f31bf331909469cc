/**
 * What the scoring benchmarks share: their model (DenseNet-121 at 224 with weights from a seeded PRNG, He-scaled
 * kernels, BatchNorm variances and scales positive, saved once as a bundle with `model.onnx`), the `cxr serve`
 * subprocess they load, and its memory from `/proc`.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createDenseNet, saveBundle, selectBackend, tf } from "../lib/model/mod.ts";
import { writeBundleOnnx } from "../lib/model/onnx_export.ts";
import { mulberry32 } from "../lib/random.ts";

/**
 * Writes the seeded DenseNet-121 bundle into `dir` unless it is there already.
 *
 * @param dir the bundle folder.
 * @returns whether it was built now.
 */
export async function buildSeededDenseNetBundle(dir: string): Promise<boolean> {
  if (existsSync(join(dir, "model.onnx"))) return false;
  await selectBackend("cpu");
  const model = createDenseNet({ inputSize: 224 });
  const rng = mulberry32(121);
  model.setWeights(model.weights.map((w) => {
    const n = (w.shape as number[]).reduce((a, b) => a * b, 1);
    const positive = /moving_variance|gamma/.test(w.originalName);
    const scale = positive ? 1 : Math.sqrt(2 / Math.max(1, n / ((w.shape as number[]).at(-1) ?? 1)));
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = positive ? 0.5 + rng() : (rng() * 2 - 1) * scale;
    return tf.tensor(values, w.shape as number[]);
  }));
  await saveBundle(model, dir, {
    modelVersion: "bench-densenet121-seed121",
    architecture: { name: "densenet121" },
  });
  await writeBundleOnnx(dir, { model });
  model.dispose();
  return true;
}

/** A `cxr serve` subprocess started by {@linkcode startServe}. */
export interface BenchService {
  /** Where it listens. */
  url: string;
  /** Its process id (for `/proc/<pid>/status`). */
  pid: number;
  /** Stops it and waits for it. */
  stop(): Promise<void>;
}

/**
 * Starts `cxr serve --model bundle --port 0 ...args` from the checkout at `root` and waits for its `Listening on`
 * line; stderr (one JSON log line per request) is kept only for a failure message.
 *
 * @param root the checkout whose `lib/cli/main.ts` (and `deno.json`, if there) runs.
 * @param bundle the model bundle.
 * @param args further `serve` arguments.
 * @param options the scoring key, and the signal `stop()` sends (SIGKILL when a stalled service must not hold
 *   the bench).
 */
export async function startServe(
  root: string,
  bundle: string,
  args: string[],
  options: { key: string; stopSignal?: Deno.Signal },
): Promise<BenchService> {
  const config = join(root, "deno.json");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...(existsSync(config) ? ["--config", config] : []),
      join(root, "lib/cli/main.ts"),
      "serve",
      "--model",
      bundle,
      "--port",
      "0",
      ...args,
    ],
    env: { CXR_SCORING_KEY: options.key, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let errTail = "";
  const errDrain = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (errTail = (errTail + chunk).slice(-3000)) }),
  );
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 180_000;
  let url: string | undefined;
  while ((url = /Listening on (\S+)/.exec(text)?.[1]) === undefined) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(
        `cxr serve ${args.join(" ")} did not start: ${text.slice(-500)}${errTail.slice(-1500)}`,
      );
    }
    text += value;
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* keep stdout flowing */ }
  })();
  return {
    url,
    pid: child.pid,
    async stop() {
      try {
        child.kill(options.stopSignal ?? "SIGTERM");
      } catch { /* already gone */ }
      await child.status;
      await drain.catch(() => {});
      await errDrain.catch(() => {});
    },
  };
}

/**
 * A process's resident memory in MiB from `/proc/<pid>/status`: `VmHWM` (the peak) or `VmRSS` (now); NaN when
 * the process is gone.
 */
export function rssMiB(pid: number, field: "VmHWM" | "VmRSS"): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
