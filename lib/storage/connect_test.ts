import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../../tests/_fixtures.ts";
import { startAzurite } from "./azurite.ts";
import { connectStorage } from "./connect.ts";
import { StorageError } from "./errors.ts";
import { envSettings, settingsFor } from "./_testing.ts";

Deno.test({
  name: "azurite mode uses the emulator already listening on the configured port",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using tmp = tempDir();
    const running = await startAzurite(join(tmp.path, "a"), { port: 0 });
    try {
      const settings = envSettings({
        CXR_AZURITE_PORT: String(running.port),
        CXR_AZURITE_DIR: join(tmp.path, "unused"),
      });
      await using conn = await connectStorage(settings, { ensureContainers: true });
      assert.equal(conn.azurite, undefined, "no second emulator was started");
      assert.equal(conn.endpoint, running.endpoint);
      const other = await connectStorage(settingsFor(running.connectionString.reveal()));
      assert.equal(await other.store.containerExists(settings.storage.containers.models), true);
      await other.close();
    } finally {
      await running.close();
    }
  },
});

Deno.test("azure mode builds the account endpoint from the name; a SAS-only connection cannot sign", async () => {
  const keyed = await connectStorage(
    envSettings({ AZURE_STORAGE_ACCOUNT: "cxrdemo", AZURE_STORAGE_KEY: btoa("k".repeat(64)) }),
  );
  assert.equal(keyed.mode, "azure");
  assert.equal(keyed.endpoint, "https://cxrdemo.blob.core.windows.net");
  const url = await keyed.store.sasUrl({ container: "nih-images", name: "images/a.png" }, {
    expiresInSeconds: 60,
  });
  assert.match(
    url,
    /^https:\/\/cxrdemo\.blob\.core\.windows\.net\/nih-images\/images\/a\.png\?.*sp=r.*&sig=/,
  );
  assert.match(url, /spr=https(&|$)/);
  const sasToken = "?sv=2024-01-01&sp=r&sig=abcdefgh";
  const sas = await connectStorage(
    envSettings({ AZURE_STORAGE_ACCOUNT: "cxrdemo", AZURE_STORAGE_SAS_TOKEN: sasToken }),
  );
  assert.equal(sas.endpoint, "https://cxrdemo.blob.core.windows.net");
  await assert.rejects(
    sas.store.sasUrl({ container: "nih-images" }),
    (e: Error) => e instanceof StorageError && /Cannot sign a SAS URL/.test(e.message),
  );
});
