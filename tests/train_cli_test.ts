import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { writeSyntheticCache } from "../lib/train/_testing.ts";
import { readHistory } from "../lib/train/mod.ts";
import { loadBundle, selectBackend } from "../lib/model/mod.ts";

// `deno task cxr train` as a real subprocess with two gradient threads: killed with SIGKILL mid-way through
// epoch 2 (its worker with it), then run again with the same arguments, it resumes from the epoch-1 checkpoint
// and finishes.

const ARGS = [
  "--epochs",
  "3",
  "--batch",
  "4",
  "--arch",
  "tiny",
  "--backend",
  "wasm",
  "--seed",
  "3",
  "--workers",
  "2",
];

Deno.test("train: SIGKILL during epoch 2, the same command resumes from the epoch-1 checkpoint and finishes", async () => {
  using dir = tempDir();
  const cache = await writeSyntheticCache(dir.path, { images: 120, size: 32 });
  const out = join(dir.path, "run");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "lib/cli/main.ts"), "train", "--cache", cache, "--out", out, ...ARGS],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  // Progress prints the first batch of every epoch at once: "epoch 2/3 1/17 ...".
  for await (const chunk of child.stderr) {
    log += decoder.decode(chunk, { stream: true });
    if (/^epoch 2\/3 \d+\/\d+/m.test(log)) break;
  }
  child.kill("SIGKILL");
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL", `not killed while training:\n${log}`);
  assert.match(log, /batch 4 \(micro-batch 2\), 3 epochs, ONNX Runtime: 2 workers x 1 thread/);
  const firstRun = readHistory(join(out, "history.jsonl"));
  assert.deepEqual(firstRun.map((r) => r.epoch), [1]);
  const checkpoints = readdirSync(join(out, "checkpoints")).filter((n) => !n.startsWith("."));
  assert.deepEqual(checkpoints, [`epoch-001-val-${firstRun[0]?.val_loss.toFixed(4)}`]);

  const r = await runCxr(["train", "--cache", cache, "--out", out, ...ARGS, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Resuming from checkpoint ".*epoch-001-val-[\d.]+" at epoch 2 of 3/);
  assert.doesNotMatch(r.stderr, /^epoch 1\/3/m);
  assert.match(r.stderr, /^epoch 3: loss/m);
  const summary = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(summary), [
    "backend",
    "engine",
    "workers",
    "threads",
    "devices",
    "epochs",
    "best",
    "bundle",
    "history",
    "resumedFrom",
    "stoppedEarly",
    "weights",
    "freeze",
  ]);
  assert.deepEqual(summary.weights, { init: "none", freeze: "none" });
  assert.equal(summary.backend, "wasm");
  assert.equal(summary.engine, "onnx");
  assert.equal(summary.workers, 2);
  assert.equal(summary.threads, 1);
  assert.deepEqual(summary.devices, []);
  assert.equal(summary.epochs, 3);
  assert.equal(summary.bundle, join(out, "best"));
  assert.match(summary.resumedFrom, /epoch-001-val-/);
  const history = readHistory(summary.history);
  assert.deepEqual(history.map((r) => r.epoch), [1, 2, 3]);
  assert.deepEqual(history[0], firstRun[0], "epoch 1 kept from the killed run");
  for (const rec of history) {
    assert.equal(Object.keys(rec.val_auroc).length, 14);
    assert.ok(rec.val_loss > 0 && rec.lr === 1e-3);
  }
  const best = history.reduce((a, b) => (b.val_loss < a.val_loss ? b : a));
  assert.deepEqual(summary.best, { epoch: best.epoch, val_loss: best.val_loss, mean_auroc: best.mean_auroc });
  await selectBackend("cpu");
  const bundle = await loadBundle(summary.bundle);
  assert.equal(bundle.metadata.inputSize, 32);
  assert.equal(bundle.metadata.metrics.epoch, best.epoch);
  bundle.model.dispose();
  assert.ok(
    existsSync(join(out, "checkpoints", `epoch-003-val-${history[2]?.val_loss.toFixed(4)}`, "optimizer.bin")),
  );

  // Everything done: running again trains nothing more and reports the same best model.
  const again = await runCxr(["train", "--cache", cache, "--out", out, ...ARGS, "--json"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stderr,
    /Nothing left to train: checkpoint ".*epoch-003-val-[\d.]+" already has all 3 epochs/,
  );
  assert.deepEqual(JSON.parse(again.stdout).best, summary.best);
  assert.equal(readHistory(summary.history).length, 3);
});

Deno.test("train: bad options are usage errors (exit 2) that name the option", async () => {
  const r = await runCxr(["train", "--cache", "x", "--out", "y", "--arch", "resnet"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--arch must be one of: densenet121, tiny/);
  const r2 = await runCxr(["train", "--cache", "x", "--out", "y", "--resume", "--no-resume"]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /exclude each other/);
  const r3 = await runCxr(["train", "--cache", "x", "--out", "y", "--workers", "0"]);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /--workers/);
  for (
    const [args, message] of [
      [["--engine", "torch"], /--engine must be one of: auto, onnx, tfjs/],
      [["--gpus", "0,x"], /--gpus wants distinct GPU indices such as 0,1, got "0,x"/],
      [["--gpus", "1,1"], /--gpus wants distinct GPU indices/],
      [["--gpus", "0", "--engine", "tfjs"], /--gpus trains on the onnx engine; drop --engine tfjs/],
    ] as const
  ) {
    const bad = await runCxr(["train", "--cache", "x", "--out", "y", ...args]);
    assert.equal(bad.code, 2, args.join(" "));
    assert.match(bad.stderr, message);
  }
});

Deno.test("train: a missing cache fails with exit 1 and says what to build", async () => {
  using dir = tempDir();
  const r = await runCxr([
    "train",
    "--cache",
    join(dir.path, "none"),
    "--out",
    join(dir.path, "o"),
    "--backend",
    "cpu",
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /train\.json is missing.*preprocess/);
});
