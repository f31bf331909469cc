/**
 * A streaming tar writer for Docker build contexts, on `npm:tar-stream`'s pack side (ustar, pax headers for
 * long names): regular files, directories and symbolic links, owned by root, with one fixed modification time
 * so that the same files give the same bytes (and Docker's layer cache hits).
 *
 * @module
 */
import tarStream from "tar-stream";

/** One member to write. */
export type TarMember =
  | { type: "file"; name: string; mode: number; size: number; body: () => AsyncIterable<Uint8Array> }
  | { type: "directory"; name: string; mode: number }
  | { type: "symlink"; name: string; target: string };

type Pack = ReturnType<typeof tarStream.pack>;
type Sink = ReturnType<Pack["entry"]>;

/** 2020-01-01T00:00:00Z: every member gets it, so contexts are byte-for-byte reproducible. */
const MTIME = new Date(1577836800_000);
const OWNER = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: MTIME };

/** Resolves once `sink` takes more data; `false` when it was destroyed (the reader stopped). */
function drained(sink: Sink): Promise<boolean> {
  if (sink.destroying) return Promise.resolve(false);
  return new Promise((resolve) => {
    const settle = (ok: boolean) => () => {
      sink.off("drain", onDrain).off("close", onClose);
      resolve(ok);
    };
    const onDrain = settle(true), onClose = settle(false);
    sink.on("drain", onDrain).on("close", onClose);
  });
}

async function writeMembers(
  pack: Pack,
  members: AsyncIterable<TarMember> | Iterable<TarMember>,
): Promise<void> {
  for await (const m of members) {
    if (m.type === "directory") pack.entry({ ...OWNER, name: m.name, mode: m.mode, type: "directory" });
    else if (m.type === "symlink") {
      pack.entry({ ...OWNER, name: m.name, mode: 0o777, type: "symlink", linkname: m.target });
    } else {
      const sink = pack.entry({ ...OWNER, name: m.name, mode: m.mode, size: m.size, type: "file" });
      let written = 0;
      for await (const chunk of m.body()) {
        written += chunk.length;
        if (written > m.size) break;
        if (!sink.write(chunk) && !await drained(sink)) return;
      }
      if (written !== m.size) {
        throw new Error(
          `Cannot add "${m.name}" to the tar stream: expected ${m.size} bytes, read ${written}`,
        );
      }
      sink.end(undefined);
    }
  }
  pack.finalize();
}

/**
 * Serialises members into tar bytes, streaming each file's body as it is read; a body that yields a different
 * number of bytes than its declared size is an error (the file changed while the context was being sent).
 *
 * @throws {Error} when a file's body length differs from its size.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * async function* body() { yield new TextEncoder().encode("hi"); }
 * const chunks: Uint8Array[] = [];
 * for await (const c of writeTar([{ type: "file", name: "a.txt", mode: 0o644, size: 2, body }])) chunks.push(c);
 * const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
 * let at = 0;
 * for (const c of chunks) { bytes.set(c, at); at += c.length; }
 * assert.equal(bytes.length, 512 * 4); // header, body block, two end blocks
 * assert.equal(new TextDecoder().decode(bytes.subarray(0, 5)), "a.txt");
 * assert.equal(new TextDecoder().decode(bytes.subarray(512, 514)), "hi");
 * ```
 */
export async function* writeTar(
  members: AsyncIterable<TarMember> | Iterable<TarMember>,
): AsyncGenerator<Uint8Array> {
  const pack = tarStream.pack();
  const writing = writeMembers(pack, members).catch((e) => pack.destroy(e));
  try {
    for await (const chunk of pack as AsyncIterable<Uint8Array>) yield chunk;
  } finally {
    pack.destroy(); // a reader that stops early also stops the writer
    await writing;
  }
}
