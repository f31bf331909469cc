// Helpers shared by this folder's tests.
import { type ArchiveServer, md5, startArchiveServer } from "../../tests/_archive_server.ts";
import type { Catalogue, DataFileEntry } from "./archives.ts";

/** {@linkcode startArchiveServer} for `await using`: the server closes when the scope ends. */
export async function archiveServer(
  files: Record<string, Uint8Array>,
): Promise<ArchiveServer & AsyncDisposable> {
  const server = await startArchiveServer(files);
  return Object.assign(server, { [Symbol.asyncDispose]: () => server.close() });
}

/**
 * A catalogue of test archives `images_001.tar.gz`, ... with their sizes and md5s (and `images` counts when
 * given); their URLs lead nowhere, so a test fetches them from a `baseUrl`.
 */
export function catalogueOf(
  archives: Uint8Array[],
  images?: number[],
  files: DataFileEntry[] = [],
): Catalogue {
  return {
    archives: archives.map((bytes, i) => ({
      number: i + 1,
      name: `images_00${i + 1}.tar.gz`,
      url: `http://unused.invalid/${i + 1}`,
      bytes: bytes.length,
      md5: md5(bytes),
      ...(images ? { images: images[i] } : {}),
    })),
    files,
  };
}
