/**
 * {@linkcode connectStorage}: the blob store the settings describe. In `azurite` mode it uses the emulator
 * listening on the configured port, or starts one in this process (data in `storage.azuriteDir`); in
 * `azure` mode it connects with the connection string, the account key, the SAS token or, when none of
 * them is given, an Entra ID login (`@azure/identity`'s DefaultAzureCredential, loaded only then).
 *
 * @module
 */
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import type { Settings } from "../config.ts";
import {
  AZURITE_ACCOUNT,
  AZURITE_ACCOUNT_KEY,
  type AzuriteServer,
  isListening,
  startAzurite,
} from "./azurite.ts";
import { AzureBlobStore } from "./azure_blob_store.ts";
import type { BlobStore, RetryOptions } from "./blob_store.ts";
import { StorageError } from "./errors.ts";

/** Options of {@linkcode connectStorage}. */
export interface ConnectOptions {
  /** Create the archives, images, metadata and models containers if missing. @default false */
  ensureContainers?: boolean;
  /** Retries of each request. @default 4 attempts, 200 ms doubling up to 5 s */
  retry?: RetryOptions | undefined;
  /** Longest one try may go without an answer or a byte moved. @default settings.storage.tryTimeoutMs */
  tryTimeoutMs?: number;
}

/** An open connection to blob storage; `close()` also stops an emulator it started. */
export interface StorageConnection {
  store: BlobStore;
  /** Which kind of storage it is. */
  mode: "azurite" | "azure";
  /** Blob service endpoint (no credentials). */
  endpoint: string;
  /** The workflow's container names (from the settings). */
  containers: Settings["storage"]["containers"];
  /** The emulator this connection started in-process, if any. */
  azurite?: AzuriteServer | undefined;
  close(): Promise<void>;
  /** Same as close(), for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The SDK's own retry policy is off: the store retries with our caps and error mapping. Its `tryTimeoutInMs`
 * only sets the server-side `timeout=` parameter and never aborts an unanswered request.
 */
const PIPELINE = { retryOptions: { maxTries: 1 } };

async function serviceClient(settings: Settings["storage"]): Promise<BlobServiceClient> {
  if (settings.connectionString) {
    try {
      return BlobServiceClient.fromConnectionString(settings.connectionString.reveal(), PIPELINE);
    } catch (e) {
      const message = "AZURE_STORAGE_CONNECTION_STRING could not be parsed (value not shown)";
      throw new StorageError(message, undefined, undefined, { cause: e });
    }
  }
  const account = settings.account!;
  const url = `https://${account}.blob.core.windows.net`;
  if (settings.accountKey) {
    const credential = new StorageSharedKeyCredential(account, settings.accountKey.reveal());
    return new BlobServiceClient(url, credential, PIPELINE);
  }
  if (settings.sasToken) {
    return new BlobServiceClient(`${url}?${settings.sasToken.reveal()}`, undefined, PIPELINE);
  }
  const spec = "npm:@azure/identity@4.14.1"; // optional: loaded only for Entra ID logins
  let identity: { DefaultAzureCredential: new () => unknown };
  try {
    identity = await import(spec);
  } catch (e) {
    const message = `No key or SAS for account "${account}" and @azure/identity could not be loaded for an ` +
      "Entra ID login; set AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN";
    throw new StorageError(message, undefined, undefined, { cause: e });
  }
  const token = new identity.DefaultAzureCredential() as StorageSharedKeyCredential; // a TokenCredential
  return new BlobServiceClient(url, token, PIPELINE);
}

/**
 * Opens the blob store described by `settings.storage`.
 *
 * @throws {StorageError} (a subclass such as StorageAuthError or StorageUnreachableError) when
 *   `ensureContainers` is set and the store refuses or cannot be reached.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * const dir = Deno.makeTempDirSync();
 * const settings = loadSettings({ env: { CXR_AZURITE_DIR: dir, CXR_AZURITE_PORT: "0" }, envFile: false });
 * const conn = await connectStorage(settings, { ensureContainers: true });
 * assert.equal(conn.mode, "azurite");
 * assert.ok(await conn.store.containerExists(settings.storage.containers.images));
 * await conn.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function connectStorage(
  settings: Settings,
  options: ConnectOptions = {},
): Promise<StorageConnection> {
  const s = settings.storage;
  let client: BlobServiceClient;
  let azurite: AzuriteServer | undefined;
  if (s.mode === "azurite" && !s.connectionString) {
    const host = "127.0.0.1";
    let port = s.azuritePort;
    if (port === 0 || !(await isListening(host, port))) {
      azurite = await startAzurite(s.azuriteDir, { host, port });
      port = azurite.port;
    }
    const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY.reveal());
    client = new BlobServiceClient(`http://${host}:${port}/${AZURITE_ACCOUNT}`, credential, PIPELINE);
  } else {
    client = await serviceClient(s);
  }
  const store = new AzureBlobStore(client, {
    retry: options.retry,
    tryTimeoutMs: options.tryTimeoutMs ?? s.tryTimeoutMs,
  });
  const close = async () => await azurite?.close();
  try {
    if (options.ensureContainers) await ensureContainers(store, s.containers);
  } catch (e) {
    await close();
    throw e;
  }
  return {
    store,
    mode: s.mode,
    endpoint: store.endpoint,
    containers: s.containers,
    azurite,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Creates the workflow's containers (archives, images, metadata, models) where missing.
 *
 * @returns the names of the containers it created.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * const dir = Deno.makeTempDirSync();
 * const settings = loadSettings({ env: { CXR_AZURITE_DIR: dir, CXR_AZURITE_PORT: "0" }, envFile: false });
 * const conn = await connectStorage(settings);
 * assert.deepEqual(await ensureContainers(conn.store, settings.storage.containers), ["nih-archives", "nih-images", "nih-metadata", "models"]);
 * assert.deepEqual(await ensureContainers(conn.store, settings.storage.containers), []);
 * await conn.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function ensureContainers(
  store: BlobStore,
  containers: Settings["storage"]["containers"],
): Promise<string[]> {
  const created: string[] = [];
  for (const name of Object.values(containers)) if (await store.ensureContainer(name)) created.push(name);
  return created;
}
