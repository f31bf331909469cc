/**
 * Checks of the Azure side: the `az` CLI and its login, and the blob storage settings.
 *
 * @module
 */
import type { StorageSettings } from "../config.ts";
import type { DoctorCheck } from "./check.ts";
import type { DoctorEnvironment } from "./environment.ts";

/** What `az account show` says about the login (subscription name and id, user); no tokens, no secrets. */
export interface AzAccount {
  subscription: string;
  subscriptionId: string;
  /** Signed-in user or service principal. */
  user: string;
}

/**
 * Runs `az account show`: the login, or `undefined` when there is no `az` or no login.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const env = { run: () => Promise.resolve({ code: 127, stdout: "", stderr: "az: not found" }) };
 * assert.equal(await azAccount(env), undefined);
 * ```
 */
export async function azAccount(env: Pick<DoctorEnvironment, "run">): Promise<AzAccount | undefined> {
  const r = await env.run("az", ["account", "show", "--output", "json"], { timeoutMs: 20_000 });
  if (r.code !== 0) return undefined;
  try {
    const a = JSON.parse(r.stdout);
    return {
      subscription: String(a.name ?? ""),
      subscriptionId: String(a.id ?? ""),
      user: String(a.user?.name ?? ""),
    };
  } catch {
    return undefined;
  }
}

/** The Azure CLI and whether it is logged in. */
export async function checkAz(env: DoctorEnvironment): Promise<DoctorCheck> {
  const base = { id: "az", title: "Azure CLI and login" };
  const version = await env.run("az", ["version", "--output", "json"], { timeoutMs: 20_000 });
  if (version.code === 127) {
    const detail = "az not found: `setup` will print the az commands instead of running them";
    const fix = "Install the Azure CLI (`curl -sL https://aka.ms/InstallAzureCLIDeb | sudo bash`), then " +
      "`az login --use-device-code` (on the VM: `az login --identity` with a managed identity).";
    return { ...base, status: "warn", detail, fix };
  }
  let cli = "az";
  try {
    cli = `az ${JSON.parse(version.stdout)["azure-cli"]}`;
  } catch { /* older az: version text only */ }
  const account = await azAccount(env);
  if (!account) {
    const fix =
      "Run `az login --use-device-code` (or `az login --identity` on a VM with a managed identity).";
    return { ...base, status: "warn", detail: `${cli}, not logged in`, fix };
  }
  return { ...base, status: "ok", detail: `${cli}, logged in as ${account.user} (${account.subscription})` };
}

/**
 * Blob storage settings: for Azurite, whether its port is free or an Azurite already answers there; for
 * Azure, which credential the settings hold (never the credential itself).
 */
export async function checkStorage(env: DoctorEnvironment, storage: StorageSettings): Promise<DoctorCheck> {
  const base = { id: "storage", title: `Blob storage (${storage.mode})` };
  if (storage.mode === "azure") {
    const credential = storage.connectionString
      ? "a connection string"
      : storage.accountKey
      ? "an account key"
      : storage.sasToken
      ? "a SAS token"
      : "no key (az login / managed identity)";
    const where = storage.account ? `account ${storage.account}` : "the connection string's account";
    return { ...base, status: "ok", detail: `${where} with ${credential}` };
  }
  const port = storage.azuritePort;
  if (port === 0) return { ...base, status: "ok", detail: "Azurite on any free port (CXR_AZURITE_PORT=0)" };
  if (await env.portFree(port)) {
    return { ...base, status: "ok", detail: `Azurite port ${port} is free; data in ${storage.azuriteDir}` };
  }
  try {
    const r = await env.get(`http://127.0.0.1:${port}/devstoreaccount1?comp=list`, { timeoutMs: 2000 });
    if (/azurite/i.test(r.headers.server ?? "")) {
      return { ...base, status: "ok", detail: `Azurite already runs on port ${port} (${r.headers.server})` };
    }
  } catch { /* not HTTP */ }
  const detail = `Azurite's port ${port} is taken by a program that is not Azurite`;
  const fix = "Set CXR_AZURITE_PORT to a free port (or 0 for any) in .env.";
  return { ...base, status: "warn", detail, fix };
}
