/**
 * Storage step: Azure Blob Storage (and the Azurite emulator) behind one {@linkcode BlobStore} interface,
 * resumable verified folder transfers, SAS URLs for sharing.
 *
 * @module
 */
export * from "./azurite.ts";
export * from "./azure_blob_store.ts";
export * from "./blob_store.ts";
export * from "./connect.ts";
export * from "./dataset_transfer.ts";
export * from "./errors.ts";
export * from "./transfer.ts";
