// Helpers shared by this folder's tests.
import { type ArchiveServer, startArchiveServer } from "../../tests/_archive_server.ts";

/** {@linkcode startArchiveServer} for `await using`: the server closes when the scope ends. */
export async function archiveServer(
  files: Record<string, Uint8Array>,
): Promise<ArchiveServer & AsyncDisposable> {
  const server = await startArchiveServer(files);
  return Object.assign(server, { [Symbol.asyncDispose]: () => server.close() });
}
