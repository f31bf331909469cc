import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AzCommandError, SetupCancelledError } from "./errors.ts";
import { setupStorage } from "./setup.ts";
import { fakeEnvironment } from "./_testing.ts";
import { loadSettings } from "../config.ts";
import { tempDir } from "../../tests/_fixtures.ts";

const KEY = "a2V5LW9mLXRoZS1zZXR1cC11bml0LXRlc3Q=";
const KEYS_LIST =
  "az storage account keys list --account-name cxrunit --resource-group cxr-rg --query [0].value --output tsv";
const SETTINGS = loadSettings({ env: {}, envFile: false });
const LOGIN = { stdout: '{"id": "sub-1", "name": "Research", "user": {"name": "ana"}}' };

Deno.test(
  "a failing container command stops the set-up, names the command, keeps the key out of the message",
  async () => {
    using dir = tempDir("cxr-setup-");
    const env = fakeEnvironment({
      programs: {
        "az account show --output json": LOGIN,
        "az": { stdout: "{}" },
        [KEYS_LIST]: { stdout: `${KEY}\n` },
        "az storage container create --name nih-images --account-name cxrunit --output json": {
          code: 1,
          stderr: `ERROR: The request with key ${KEY} was denied (AuthorizationFailure)`,
        },
      },
    });
    const envFile = join(dir.path, ".env");
    const e = await setupStorage(SETTINGS, { env, envFile, account: "cxrunit" }).catch((e) => e);
    assert.ok(e instanceof AzCommandError);
    assert.match(e.command, /container create --name nih-images/);
    assert.match(e.message, /failed: ERROR: The request with key \*\*\* was denied/);
    assert.ok(!e.message.includes(KEY));
    assert.equal(existsSync(envFile), false, "nothing written after a failure");
    assert.deepEqual(env.calls.slice(-2).map((c) => c.split(" ")[5]), ["nih-archives", "nih-images"]);
  },
);

Deno.test(
  "declining the confirmation creates nothing; a dry run with a login plans the storage commands",
  async () => {
    using dir = tempDir("cxr-setup-");
    const env = fakeEnvironment({
      programs: { "az account show --output json": LOGIN, "az": { stdout: "{}" } },
    });
    const envFile = join(dir.path, ".env");
    await assert.rejects(
      setupStorage(SETTINGS, { env, envFile, confirm: () => false }),
      SetupCancelledError,
    );
    assert.deepEqual(env.calls, ["az account show --output json"]);
    const plan = await setupStorage(SETTINGS, { env, envFile, dryRun: true });
    assert.equal(plan.mode, "azure");
    assert.deepEqual(plan.ran, []);
    assert.match(plan.todo[0] ?? "", /^az group create --name cxr-rg/);
    assert.equal(plan.settings.AZURE_STORAGE_KEY, "***");
    assert.equal(plan.settings.AZURE_SUBSCRIPTION_ID, "sub-1");
    assert.equal(existsSync(envFile), false);
    await assert.rejects(setupStorage(SETTINGS, { env, envFile, account: "Bad_Name" }), RangeError);
  },
);

Deno.test(
  "without a login the Azurite settings are written and the VM is left to the user",
  async () => {
    using dir = tempDir("cxr-setup-");
    const envFile = join(dir.path, ".env");
    const r = await setupStorage(SETTINGS, { env: fakeEnvironment({}), envFile });
    assert.equal(r.mode, "azurite");
    assert.deepEqual(r.written, [
      "CXR_STORAGE",
      "CXR_AZURITE_PORT",
      "CXR_JUPYTER_PORT",
      "CXR_TRAINING_JUPYTER_PORT",
      "AZURE_RESOURCE_GROUP",
      "AZURE_LOCATION",
    ]);
    assert.equal(loadSettings({ env: {}, envFile }).storage.mode, "azurite");
    assert.ok(r.todo.some((c) => c.startsWith("az vm create")));
    assert.match(readFileSync(envFile, "utf8"), /^CXR_STORAGE=azurite\n/);
    assert.match(r.toText(), /Settings file .*\.env:\n {2}CXR_STORAGE=azurite/);
  },
);
