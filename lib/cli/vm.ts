/**
 * `deno task cxr doctor` (what this machine has and lacks for the workflow), `deno task cxr gpu-smoke` (the
 * backend and GPUs, and one `train --gpus` step per GPU against the CPU's) and `deno task cxr setup` (storage
 * account and containers, or Azurite, and the settings file).
 *
 * @module
 */
import {
  choiceOption,
  type Command,
  intOption,
  optionalString,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import { Progress } from "../progress.ts";
import { backendReport, BACKENDS } from "../model/mod.ts";
import { gpuSmoke, type GpuSmokeReport } from "../docker/mod.ts";
import { loadSettingsFrom, runDoctor, setupStorage } from "../vm/mod.ts";

const ENV_FILE = {
  valueName: "FILE",
  description: "Settings file to read (and, for setup, to write).",
  defaultText: ".env",
};

/** The `doctor` command. */
export const doctorCommand: Command = {
  name: "doctor",
  summary:
    "Check GPU/CUDA/cuDNN, disk, Docker, Jupyter, ports, backends, Deno, az and storage; say what to fix.",
  details:
    "Every check runs at once, each within --timeout seconds, and reports ok, warn or fail with what " +
    "was found and what to do. The exit code is 0 even when checks fail: this is a report. --json prints " +
    "{ ok, counts: { ok, warn, fail }, checks: [{ id, title, status, detail, fix?, details? }] }, where the " +
    "backends check's details are { best, reason, tried: [{ name, ok, usable, reason, details? }] } with " +
    "the full errors. Below the table comes a small one of the backends: usable (yes, slow: a software WebGPU " +
    "adapter, no) and why not in a few words; --verbose adds the full errors. The best backend is the one " +
    "`train --backend auto` picks.",
  options: {
    "env-file": ENV_FILE,
    timeout: { valueName: "SECONDS", description: "Time one check may take.", defaultText: "20" },
    "skip-backends": { description: "Do not try to load the tfjs compute backends." },
    verbose: { short: "v", description: "Print the full error of each backend." },
  },
  async run(values, ctx) {
    const settings = loadSettingsFrom(stringOption(values, "env-file", ".env"));
    const timeoutMs = intOption(values, "timeout", { min: 1, max: 600, fallback: 20 }) * 1000;
    const progress = new Progress({ label: "doctor", total: 13, unit: "items" });
    const report = await runDoctor(settings, {
      timeoutMs,
      ...(values["skip-backends"] ? {} : { backends: () => backendReport() }),
      onProgress: (e) => progress.update(e.done, e.total),
    });
    progress.finish();
    ctx.out(ctx.json ? JSON.stringify(report) : report.toTable({ verbose: values.verbose === true }));
  },
};

/**
 * The `gpu-smoke` command (the training image's `gpu-smoke` runs the same check): exit 1 when a GPU's training
 * step fails or differs from the CPU's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(gpuSmokeCommand.name, "gpu-smoke");
 * ```
 */
export const gpuSmokeCommand: Command = {
  name: "gpu-smoke",
  summary: "Load the best tfjs backend, list the GPUs, run one train --gpus step on each against the CPU's.",
  details: "The step is a small DenseNet's, on ONNX Runtime's cuda provider (what `train --gpus` runs), " +
    "compared with the same step on its CPU provider: loss within 1e-4, gradients within 1e-3 of the largest. " +
    "Without the provider library (or without GPUs) it says why and runs no step. Exit 1 when a step fails or " +
    "differs. --json prints { backend, reason, tried, devices, onnx: { providers, problem, steps: [{ device, " +
    "loss?, gradientDifference?, ok, error? }] } }.",
  options: {
    backend: {
      valueName: "NAME",
      description: `tfjs backend: auto, ${BACKENDS.join(", ")}.`,
      defaultText: "auto",
    },
  },
  async run(values, ctx) {
    const backend = choiceOption(values, "backend", ["auto", ...BACKENDS] as const, "auto");
    const report = await gpuSmoke({ backend });
    ctx.out(ctx.json ? JSON.stringify(report) : gpuSmokeText(report));
    return report.onnx.steps.every((s) => s.ok) ? 0 : 1;
  },
};

/**
 * The plain-text form of a {@linkcode GpuSmokeReport}, as `cxr gpu-smoke` prints it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = gpuSmokeText({
 *   backend: "wasm", reason: "fastest that loaded", tried: [], devices: ["GPU 0: H100 (UUID: x)"],
 *   onnx: { providers: ["cpu", "cuda"], problem: null, steps: [{ device: 0, loss: 0.7, gradientDifference: 2e-6, ok: true }] },
 * });
 * assert.match(text, /^train --gpus: GPU 0 ok \(loss 0\.7000, gradients within 2\.0e-6 of the CPU's\)$/m);
 * const failed = gpuSmokeText({
 *   backend: "wasm", reason: "", tried: [], devices: [],
 *   onnx: { providers: ["cpu"], problem: null, steps: [{ device: 1, error: "CUDA failure 100", ok: false }] },
 * });
 * assert.match(failed, /^train --gpus: GPU 1 FAILED: CUDA failure 100$/m);
 * ```
 */
export function gpuSmokeText(report: GpuSmokeReport): string {
  const { onnx } = report;
  const lines = [
    `tfjs backend: ${report.backend} (${report.reason})`,
    `GPUs: ${report.devices.length ? report.devices.join("; ") : "none listed by nvidia-smi"}`,
    `ONNX Runtime providers: ${onnx.providers.join(", ")}`,
  ];
  if (onnx.problem) lines.push(`train --gpus cannot run here: ${onnx.problem}`);
  else if (!onnx.steps.length) lines.push("train --gpus: no GPU to check");
  for (const s of onnx.steps) {
    lines.push(
      s.ok
        ? `train --gpus: GPU ${s.device} ok (loss ${s.loss?.toFixed(4)}, gradients within ${
          s.gradientDifference?.toExponential(1)
        } of the CPU's)`
        : `train --gpus: GPU ${s.device} FAILED: ${
          s.error ??
            `loss ${s.loss?.toFixed(4)}, gradients differ by ${
              s.gradientDifference?.toExponential(1)
            } of the largest`
        }`,
    );
  }
  return lines.join("\n");
}

/** The `setup` command. */
export const setupCommand: Command = {
  name: "setup",
  summary:
    "Create the storage account and containers with az (or configure Azurite); write the settings file.",
  details: "With an Azure login (`az account show` succeeds) it creates the resource group, a Standard_LRS " +
    "StorageV2 account (HTTPS only, TLS 1.2, no public blob access) and the four containers, and writes the " +
    "account and its key into the settings file (mode 0600; the key is never printed). Without a login it " +
    "configures the Azurite emulator and prints the az commands to run later, including the GPU VM " +
    "(Standard_NC6s_v3, Data Science VM image, 512 GB data disk, ssh and both Jupyter ports). Existing keys " +
    "of the settings file are kept unless --force. --json prints { mode, dryRun, login?, ran, todo, " +
    "envFile, settings, written, kept } with secrets as ***.",
  options: {
    "env-file": ENV_FILE,
    "resource-group": { valueName: "NAME", description: "Resource group.", defaultText: "cxr-rg" },
    location: { valueName: "REGION", description: "Azure region.", defaultText: "eastus" },
    account: {
      valueName: "NAME",
      description: "Storage account name (3-24 lowercase letters and digits).",
      defaultText: "derived from subscription and group",
    },
    yes: { short: "y", description: "Create the Azure resources without asking." },
    "dry-run": { description: "Print the plan; run and write nothing." },
    force: { description: "Replace values the settings file already has." },
  },
  async run(values, ctx) {
    const envFile = stringOption(values, "env-file", ".env");
    const settings = loadSettingsFrom(envFile);
    const account = optionalString(values, "account");
    if (account !== undefined && !/^[a-z0-9]{3,24}$/.test(account)) {
      throw new UsageError(`--account must be 3-24 lowercase letters and digits, got "${account}"`);
    }
    const report = await setupStorage(settings, {
      envFile,
      ...withoutUndefined({
        resourceGroup: optionalString(values, "resource-group"),
        location: optionalString(values, "location"),
        account,
      }),
      dryRun: values["dry-run"] === true,
      force: values.force === true,
      ...(values.yes ? {} : {
        confirm: (commands: string[]) => {
          if (!Deno.stdin.isTerminal()) {
            throw new UsageError("creating Azure resources needs --yes when not run from a terminal");
          }
          ctx.err(["Will run:", ...commands.map((c) => `  ${c}`)].join("\n"));
          return confirm("Create these Azure resources?");
        },
      }),
      onProgress: (e) => ctx.err(`[${e.number}/${e.total}] ${e.display}`),
    });
    ctx.out(ctx.json ? JSON.stringify(report) : report.toText());
  },
};
