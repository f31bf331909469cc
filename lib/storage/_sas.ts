/**
 * Shared access signatures: a URL that lets someone read one blob (or list and read a container) for a
 * while, without the account key. Signed with the account key where the store has one, with an Entra ID
 * user delegation key where it has a token credential.
 *
 * @module
 */
import {
  BlobSASPermissions,
  type BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { StorageError } from "./errors.ts";
import type { SasOptions } from "./blob_store.ts";

/**
 * Checks SAS permission letters and puts them in Azure's canonical order.
 *
 * @throws {RangeError} on a letter that is not one of `racwdl` (or `l` for a single blob).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(sasPermissions("lr", true), "rl");
 * assert.throws(() => sasPermissions("rx", false), /one of: r, a, c, w, d/);
 * ```
 */
export function sasPermissions(letters: string, forContainer: boolean): string {
  const valid = forContainer ? ["r", "a", "c", "w", "d", "l"] : ["r", "a", "c", "w", "d"];
  const bad = [...letters].find((ch) => !valid.includes(ch));
  if (bad !== undefined) {
    const message = `SAS permission "${bad}" is not valid here: use letters, one of: ${valid.join(", ")}`;
    throw new RangeError(message);
  }
  if (letters.length === 0) throw new RangeError("SAS permissions must not be empty");
  return valid.filter((ch) => letters.includes(ch)).join("");
}

/**
 * Builds a SAS URL for a blob (`name` given) or a container, signed by the service client's credential.
 * `request.abortSignal` cancels the one request an Entra ID login needs (the user delegation key).
 *
 * @throws {StorageError} when the client holds neither an account key nor a token credential.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
 * const key = new StorageSharedKeyCredential("cxrdemo", btoa("k".repeat(64)));
 * const service = new BlobServiceClient("https://cxrdemo.blob.core.windows.net", key);
 * const url = await buildSasUrl(service, { container: "models", name: "v1/model.json" }, { expiresInSeconds: 600 });
 * assert.match(url, /^https:\/\/cxrdemo\.blob\.core\.windows\.net\/models\/v1\/model\.json\?.*sp=r&/);
 * ```
 */
export async function buildSasUrl(
  service: BlobServiceClient,
  ref: { container: string; name?: string },
  options: SasOptions = {},
  request: { abortSignal?: AbortSignal } = {},
): Promise<string> {
  const forContainer = ref.name === undefined;
  const permissions = sasPermissions(options.permissions ?? (forContainer ? "rl" : "r"), forContainer);
  const seconds = options.expiresInSeconds ?? 3600;
  if (!(seconds > 0 && seconds <= 7 * 24 * 3600)) {
    throw new RangeError(`SAS lifetime must be between 1 second and 7 days, got ${seconds} s`);
  }
  const startsOn = new Date(Date.now() - 5 * 60_000); // tolerate clock skew
  const expiresOn = new Date(Date.now() + seconds * 1000);
  const container = service.getContainerClient(ref.container);
  const base = ref.name === undefined ? container.url : container.getBlobClient(ref.name).url;
  const values = {
    containerName: ref.container,
    ...(ref.name === undefined ? {} : { blobName: ref.name }),
    permissions: (forContainer ? ContainerSASPermissions : BlobSASPermissions).parse(permissions),
    startsOn,
    expiresOn,
    protocol: base.startsWith("https:") ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
  };
  const credential = service.credential as unknown;
  let query: string;
  if (credential instanceof StorageSharedKeyCredential) {
    query = generateBlobSASQueryParameters(values, credential).toString();
  } else if (typeof (credential as { getToken?: unknown })?.getToken === "function") {
    const key = await service.getUserDelegationKey(startsOn, expiresOn, request);
    query = generateBlobSASQueryParameters(values, key, service.accountName).toString();
  } else {
    throw new StorageError(
      "Cannot sign a SAS URL: this connection uses a SAS token or no credential; " +
        "connect with an account key (AZURE_STORAGE_KEY) or an Entra ID login instead",
    );
  }
  return `${base.split("?")[0]}?${query}`;
}
