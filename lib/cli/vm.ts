/**
 * `deno task cxr doctor` (what this machine has and lacks for the workflow) and `deno task cxr setup`
 * (storage account and containers, or Azurite, and the settings file).
 *
 * @module
 */
import {
  type Command,
  intOption,
  optionalString,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import { Progress } from "../progress.ts";
import { backendReport } from "../model/mod.ts";
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
    const progress = new Progress({ label: "doctor", total: 12, unit: "items" });
    const report = await runDoctor(settings, {
      timeoutMs,
      ...(values["skip-backends"] ? {} : { backends: () => backendReport() }),
      onProgress: (e) => progress.update(e.done, e.total),
    });
    progress.finish();
    ctx.out(ctx.json ? JSON.stringify(report) : report.toTable({ verbose: values.verbose === true }));
  },
};

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
