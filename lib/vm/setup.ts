/**
 * `setupStorage`: with an Azure login, creates the resource group, storage account and containers through
 * the `az` CLI and writes the account and its key into the settings file; without one, configures the
 * Azurite emulator and lists the `az` commands to run later. The GPU VM is always left to the user (printed).
 *
 * @module
 */
import type { Settings } from "../config.ts";
import { registerSecret } from "../secrets.ts";
import { JUPYTER_DISPLAY } from "../display.ts";
import { type AzAccount, azAccount } from "./azure_checks.ts";
import { type AzCommand, defaultAccountName, storageCommands, vmCommands } from "./_az_commands.ts";
import { writeEnvFile } from "./env_file.ts";
import { AzCommandError, SetupCancelledError } from "./errors.ts";
import { type DoctorEnvironment, systemEnvironment } from "./environment.ts";

/** Options of {@linkcode setupStorage}. */
export interface SetupOptions {
  /** Settings file to write. @default ".env" */
  envFile?: string;
  /** Resource group. @default settings.azure.resourceGroup */
  resourceGroup?: string;
  /** Azure region. @default settings.azure.location */
  location?: string;
  /** Storage account name. @default settings.storage.account, else derived from subscription and group */
  account?: string;
  /** Show the plan only: run nothing, write nothing. @default false */
  dryRun?: boolean;
  /** Replace keys the settings file already has. @default false */
  force?: boolean | undefined;
  /** Asked before Azure resources are created; answering false cancels. @default always yes */
  confirm?: (commands: string[]) => boolean | Promise<boolean>;
  /** The machine (runs `az`). @default systemEnvironment() */
  env?: Pick<DoctorEnvironment, "run">;
  /** Receives each `az` command before it runs. */
  onProgress?: (event: { type: "command"; display: string; number: number; total: number }) => void;
}

/**
 * What {@linkcode setupStorage} did or would do. `settings` holds the variables for the settings file with
 * secrets as `***`; it prints as text and renders as Markdown in Jupyter.
 */
export class SetupReport {
  /** `azure` with a login, `azurite` without. */
  mode!: "azure" | "azurite";
  /** Nothing was run or written. */
  dryRun!: boolean;
  /** The Azure login used, if any. */
  login?: { user: string; subscription: string } | undefined;
  /** `az` commands that were run, in order. */
  ran!: string[];
  /** `az` commands left to the user (with notes as `# ...` comments). */
  todo!: string[];
  /** The settings file. */
  envFile!: string;
  /** Variables for the settings file, secrets `***`. */
  settings!: Record<string, string>;
  /** Keys written to the settings file. */
  written!: string[];
  /** Keys the settings file already had with another value and kept (no `force`). */
  kept!: string[];
  constructor(fields: SetupFields) {
    Object.assign(this, fields);
  }
  /** Plain fields, as `setup --json` prints them. */
  toJSON(): SetupFields {
    const { mode, dryRun, login, ran, todo, envFile, settings, written, kept } = this;
    return { mode, dryRun, login, ran, todo, envFile, settings, written, kept };
  }
  /** A readable summary. */
  toText(): string {
    const lines = [`storage: ${this.mode}${this.dryRun ? " (dry run: nothing run or written)" : ""}`];
    if (this.login) lines.push(`Azure login: ${this.login.user} (${this.login.subscription})`);
    if (this.ran.length) lines.push("", "Ran:", ...this.ran.map((c) => `  ${c}`));
    if (this.todo.length) {
      lines.push("", this.dryRun ? "Plan:" : "To run yourself:", ...this.todo.map((c) => `  ${c}`));
    }
    lines.push("", `${this.dryRun ? "Would write" : "Settings file"} ${this.envFile}:`);
    for (const [k, v] of Object.entries(this.settings)) {
      const note = this.kept.includes(k) ? "  (kept the existing value; --force replaces it)" : "";
      lines.push(`  ${k}=${v}${note}`);
    }
    return lines.join("\n");
  }
  [JUPYTER_DISPLAY](): Record<string, string> {
    return { "text/markdown": "```\n" + this.toText() + "\n```", "text/plain": this.toText() };
  }
}

/** The fields of a {@linkcode SetupReport}. */
type SetupFields = Omit<SetupReport, "toText" | "toJSON" | typeof JUPYTER_DISPLAY>;

function withNotes(commands: AzCommand[]): string[] {
  return commands.map((c) => c.note ? `${c.display}   # ${c.note}` : c.display);
}

/**
 * Sets up blob storage and the settings file (see the module doc).
 *
 * @throws {AzCommandError} when an `az` command fails (earlier ones are not undone; running again resumes).
 * @throws {SetupCancelledError} when `confirm` says no.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * const noAz = { run: () => Promise.resolve({ code: 127, stdout: "", stderr: "az: not found" }) };
 * const r = await setupStorage(loadSettings({ env: {}, envFile: false }), { dryRun: true, env: noAz });
 * assert.equal(r.mode, "azurite");
 * assert.equal(r.settings.CXR_STORAGE, "azurite");
 * assert.ok(r.todo.some((c) => c.includes("az vm create")));
 * ```
 */
export async function setupStorage(settings: Settings, options: SetupOptions = {}): Promise<SetupReport> {
  const env = options.env ?? systemEnvironment();
  const login: AzAccount | undefined = await azAccount(env);
  const resourceGroup = options.resourceGroup ?? settings.azure.resourceGroup;
  const location = options.location ?? settings.azure.location;
  const account = options.account ?? settings.storage.account ??
    defaultAccountName(login?.subscriptionId ?? settings.azure.subscriptionId ?? "", resourceGroup);
  if (!/^[a-z0-9]{3,24}$/.test(account)) {
    throw new RangeError(`setupStorage: account "${account}" must be 3-24 lowercase letters and digits`);
  }
  const input = {
    resourceGroup,
    location,
    account,
    containers: Object.values(settings.storage.containers),
    jupyterPorts: [settings.jupyterPort, settings.trainingJupyterPort],
  };
  const storage = storageCommands(input);
  const vm = vmCommands(input).slice(1); // the resource group is created with the storage
  const common = { AZURE_RESOURCE_GROUP: resourceGroup, AZURE_LOCATION: location };
  const envFile = options.envFile ?? ".env";
  const ran: string[] = [];
  const vars: Record<string, string> = login
    ? {
      CXR_STORAGE: "azure",
      AZURE_STORAGE_ACCOUNT: account,
      AZURE_STORAGE_KEY: "***",
      AZURE_SUBSCRIPTION_ID: login.subscriptionId,
      ...common,
    }
    : {
      CXR_STORAGE: "azurite",
      CXR_AZURITE_PORT: String(settings.storage.azuritePort),
      CXR_JUPYTER_PORT: String(settings.jupyterPort),
      CXR_TRAINING_JUPYTER_PORT: String(settings.trainingJupyterPort),
      ...common,
    };
  const shown = { ...vars };
  if (login && !options.dryRun) {
    if (options.confirm && !(await options.confirm(storage.map((c) => c.display)))) {
      throw new SetupCancelledError(
        "Set-up cancelled: no Azure resources were created and the settings file was not changed",
      );
    }
    let key = "";
    for (const [i, c] of storage.entries()) {
      options.onProgress?.({ type: "command", display: c.display, number: i + 1, total: storage.length });
      const isContainer = c.args[1] === "container";
      const r = await env.run("az", c.args, {
        timeoutMs: 300_000,
        ...(isContainer ? { env: { AZURE_STORAGE_ACCOUNT: account, AZURE_STORAGE_KEY: key } } : {}),
      });
      if (r.code !== 0) {
        const why = (r.stderr || r.stdout).trim().split("\n").filter(Boolean).at(-1) ??
          `exit code ${r.code}`;
        throw new AzCommandError(`"${c.display}" failed: ${why.split(key || "\0").join("***")}`, c.display);
      }
      if (c.args[2] === "keys") {
        key = r.stdout.trim();
        if (!/^[A-Za-z0-9+/]{20,}={0,2}$/.test(key)) {
          throw new AzCommandError(`"${c.display}" did not print an account key`, c.display);
        }
        registerSecret(key);
      }
      ran.push(c.display);
    }
    vars.AZURE_STORAGE_KEY = key;
  }
  const todo = [
    ...(login ? [] : ["az login --use-device-code"]),
    ...withNotes(login && !options.dryRun ? [] : storage),
    ...withNotes(vm),
  ];
  const { written, kept, path } = options.dryRun
    ? { written: [], kept: [], path: envFile }
    : writeEnvFile(envFile, vars, { force: options.force });
  return new SetupReport({
    mode: login ? "azure" : "azurite",
    dryRun: options.dryRun === true,
    login: login ? { user: login.user, subscription: login.subscription } : undefined,
    ran,
    todo,
    envFile: path,
    settings: shown,
    written,
    kept,
  });
}
