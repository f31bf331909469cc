/**
 * The `az` commands of the set-up: storage account and containers (run by `setup` when logged in), and the
 * GPU VM with its network rules and data disk (always left to the user, printed).
 *
 * @module
 */
import { createHash } from "node:crypto";

/** One `az` command: its arguments, and how to show it (a shell line, never holding a secret). */
export interface AzCommand {
  /** Arguments after `az`. */
  args: string[];
  /** The line a user would type. */
  display: string;
  /** Why the command is there, shown as a comment. */
  note?: string;
}

/** What the commands are about. */
export interface AzPlanInput {
  resourceGroup: string;
  /** Azure region, e.g. `eastus`. */
  location: string;
  /** Storage account name. */
  account: string;
  /** Container names, in the order they are created. */
  containers: string[];
  /** The two Jupyter ports, opened in the VM's network security group. */
  jupyterPorts: number[];
}

/** The Data Science Virtual Machine image: NVIDIA driver, CUDA, Docker and Jupyter preinstalled. */
export const DSVM_IMAGE = "microsoft-dsvm:ubuntu-2004:2004-gen2:latest";

/**
 * Quotes an argument for a POSIX shell when it needs it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(shellQuote("eastus"), "eastus");
 * assert.equal(shellQuote("[0].value"), "'[0].value'");
 * ```
 */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:@=,+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function az(args: string[], note?: string): AzCommand {
  return { args, display: `az ${args.map(shellQuote).join(" ")}`, ...(note ? { note } : {}) };
}

/**
 * A storage account name (3-24 lowercase letters and digits, unique in Azure) derived from the
 * subscription and resource group, so running `setup` again finds the same account.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(defaultAccountName("sub", "cxr-rg"), /^cxr[0-9a-f]{10}$/);
 * assert.equal(defaultAccountName("sub", "cxr-rg"), defaultAccountName("sub", "cxr-rg"));
 * ```
 */
export function defaultAccountName(subscriptionId: string, resourceGroup: string): string {
  return `cxr${createHash("sha256").update(`${subscriptionId}/${resourceGroup}`).digest("hex").slice(0, 10)}`;
}

/**
 * The storage commands in the order `setup` runs them: resource group, storage account (Standard_LRS,
 * StorageV2, HTTPS only, TLS 1.2, no public blob access), its key (captured, never printed), containers
 * (authorised by `AZURE_STORAGE_ACCOUNT`/`AZURE_STORAGE_KEY` in the environment, not by an argument).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const cmds = storageCommands({ resourceGroup: "g", location: "eastus", account: "cxrdata", containers: ["a", "b"], jupyterPorts: [] });
 * assert.deepEqual(cmds.map((c) => c.args.slice(0, 3).join(" ")), ["group create --name", "storage account create",
 *   "storage account keys", "storage container create", "storage container create"]);
 * ```
 */
export function storageCommands(input: AzPlanInput): AzCommand[] {
  const { resourceGroup: g, location, account } = input;
  const key = az(
    [
      ...["storage", "account", "keys", "list", "--account-name", account, "--resource-group", g],
      ...["--query", "[0].value", "--output", "tsv"],
    ],
    "the key goes into .env as AZURE_STORAGE_KEY",
  );
  return [
    az(["group", "create", "--name", g, "--location", location, "--output", "json"]),
    az([
      ...["storage", "account", "create", "--name", account, "--resource-group", g, "--location", location],
      ...["--sku", "Standard_LRS", "--kind", "StorageV2", "--https-only", "true"],
      ...["--min-tls-version", "TLS1_2", "--allow-blob-public-access", "false", "--output", "json"],
    ]),
    { ...key, display: `export AZURE_STORAGE_KEY="$(${key.display})"` },
    ...input.containers.map((c) =>
      az(["storage", "container", "create", "--name", c, "--account-name", account, "--output", "json"])
    ),
  ];
}

/**
 * The GPU VM a user creates by hand: network security group with ssh and the two Jupyter ports, an
 * NC-series VM from the Data Science VM image with a 512 GB data disk.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const cmds = vmCommands({ resourceGroup: "g", location: "eastus", account: "x", containers: [], jupyterPorts: [10002, 10003] });
 * assert.match(cmds.at(-1)!.display, /--size Standard_NC6s_v3 .*--data-disk-sizes-gb 512/);
 * assert.equal(cmds.filter((c) => c.args.includes("rule")).length, 3);
 * ```
 */
export function vmCommands(input: AzPlanInput): AzCommand[] {
  const { resourceGroup: g, location } = input;
  const vm = "cxr-vm";
  const nsg = `${vm}-nsg`;
  const rule = (name: string, port: number, priority: number) =>
    az(
      [
        ...["network", "nsg", "rule", "create", "--resource-group", g, "--nsg-name", nsg, "--name", name],
        ...["--priority", String(priority), "--direction", "Inbound"],
        ...["--access", "Allow", "--protocol", "Tcp"],
        ...["--destination-port-ranges", String(port), "--source-address-prefixes", "YOUR_IP/32"],
      ],
      name === "ssh" ? "replace YOUR_IP with your public address" : undefined,
    );
  return [
    az(["group", "create", "--name", g, "--location", location]),
    az(["network", "nsg", "create", "--resource-group", g, "--name", nsg, "--location", location]),
    rule("ssh", 22, 1000),
    ...input.jupyterPorts.map((p, i) => rule(i === 0 ? "jupyter" : "training-jupyter", p, 1010 + 10 * i)),
    az(
      [
        ...["vm", "create", "--resource-group", g, "--name", vm, "--location", location],
        ...["--size", "Standard_NC6s_v3", "--image", DSVM_IMAGE],
        ...["--admin-username", "azureuser"],
        ...["--generate-ssh-keys", "--nsg", nsg, "--public-ip-sku", "Standard", "--os-disk-size-gb", "128"],
        ...["--data-disk-sizes-gb", "512"],
      ],
      "one V100 (16 GB); CUDA driver, Docker and Jupyter come with the image",
    ),
  ];
}
