import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CorruptArchiveError, readTar, type TarEntry, TruncatedArchiveError } from "./tar.ts";
import { samplePngs, tarBytes } from "../../tests/_archive_server.ts";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";

async function gnuTar(args: string[], cwd: string): Promise<Uint8Array> {
  const out = await new Deno.Command("tar", { args: ["-cf", "-", ...args], cwd, stdout: "piped" }).output();
  assert.equal(out.code, 0);
  return out.stdout;
}

/** Splits bytes into chunks of `size`, to exercise headers and bodies crossing chunk borders. */
function* chunks(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function readAll(
  source: Iterable<Uint8Array>,
  readBodies = true,
): Promise<{ entry: Omit<TarEntry, "body">; data?: Uint8Array }[]> {
  const out: { entry: Omit<TarEntry, "body">; data?: Uint8Array }[] = [];
  for await (const { body, ...entry } of readTar(source, "t.tar")) {
    if (!readBodies) {
      out.push({ entry });
      continue;
    }
    out.push({ entry, data: new Uint8Array(Buffer.concat(await Array.fromAsync(body))) });
  }
  return out;
}

Deno.test("readTar reads a GNU tar of real NIH PNGs byte for byte, in chunks of any size", async () => {
  const names = samplePngs().slice(0, 5);
  const tar = await gnuTar(names.map((n) => `images/${n}`), NIH_SAMPLE);
  for (const size of [1000, 512, 7, 1 << 20]) {
    const got = await readAll(chunks(tar, size));
    assert.deepEqual(got.map((g) => g.entry.name), names.map((n) => `images/${n}`));
    for (const [i, g] of got.entries()) {
      assert.equal(g.entry.type, "file");
      assert.deepEqual(g.data, new Uint8Array(readFileSync(join(NIH_SAMPLE, "images", names[i] ?? ""))));
    }
  }
});

Deno.test("readTar skips bodies the caller does not read", async () => {
  const names = samplePngs().slice(0, 3);
  const tar = await gnuTar(names.map((n) => `images/${n}`), NIH_SAMPLE);
  const got = await readAll(chunks(tar, 4096), false);
  assert.deepEqual(
    got.map((g) => [g.entry.name, g.entry.size]),
    names.map((n) => [
      `images/${n}`,
      readFileSync(join(NIH_SAMPLE, "images", n)).length,
    ]),
  );
});

Deno.test("readTar resolves long names written by GNU tar (L entries) and pax headers (x entries)", async () => {
  using dir = tempDir();
  const long = `images/${"d".repeat(120)}/${"n".repeat(90)}.png`;
  mkdirSync(join(dir.path, long, ".."), { recursive: true });
  writeFileSync(join(dir.path, long), "png bytes");
  for (const format of ["gnu", "pax"]) {
    const tar = await gnuTar([`--format=${format}`, long], dir.path);
    const got = await readAll([tar]);
    assert.deepEqual(got.map((g) => g.entry.name), [long], format);
    assert.equal(new TextDecoder().decode(got[0]?.data), "png bytes");
  }
  const crafted = tarBytes([
    { name: "././@LongLink", flag: "L", data: new TextEncoder().encode("images/long-by-L.png\0") },
    { name: "images/short", data: new Uint8Array([1]) },
    { name: "PaxHeaders/x", flag: "x", data: new TextEncoder().encode("28 path=images/from-pax.png\n") },
    { name: "images/short2", data: new Uint8Array([2]) },
    { name: "images/", flag: "5" },
  ]);
  const got = await readAll([crafted]);
  assert.deepEqual(got.map((g) => [g.entry.name, g.entry.type, [...g.data!]]), [
    ["images/long-by-L.png", "file", [1]],
    ["images/from-pax.png", "file", [2]],
    ["images/", "directory", []],
  ]);
});

Deno.test("readTar: a bad header checksum is a CorruptArchiveError with the offset", async () => {
  const tar = tarBytes([{ name: "a.png", data: new Uint8Array(600) }, {
    name: "b.png",
    data: new Uint8Array(3),
  }]);
  tar[1536 + 10] = tar[1536 + 10]! ^ 0xff; // inside the second header (512 header + 1024 body)
  await assert.rejects(
    readAll([tar]),
    (e) =>
      e instanceof CorruptArchiveError && e.offset === 1536 &&
      /"t\.tar" is corrupt at byte 1536/.test(e.message),
  );
});

Deno.test("readTar: data that ends early is a TruncatedArchiveError saying how far it got", async () => {
  const tar = tarBytes([{ name: "a.png", data: new Uint8Array(600) }, {
    name: "b.png",
    data: new Uint8Array(3000),
  }]);
  // Cut inside b.png's body (its header is at 1536..2048).
  await assert.rejects(readAll([tar.subarray(0, 3000)]), (e) => {
    assert.ok(e instanceof TruncatedArchiveError);
    assert.equal(e.archive, "t.tar");
    assert.equal(e.bytesRead, 3000);
    assert.equal(e.entries, 1);
    assert.match(e.message, /"t\.tar" is truncated: member "b\.png" ends after 3000 bytes/);
    return true;
  });
  // Cut inside a header, and cut exactly at a member boundary (no end-of-archive marker).
  await assert.rejects(readAll([tar.subarray(0, 1536 + 100)]), /header ends after 1636 bytes/);
  await assert.rejects(readAll([tar.subarray(0, 1536)]), /end-of-archive marker missing after 1536 bytes/);
});

Deno.test("readTar: a consumer that stops early stops reading the source", async () => {
  const tar = await gnuTar(samplePngs().slice(0, 3).map((n) => `images/${n}`), NIH_SAMPLE);
  let closed = false;
  const source = (async function* () {
    try {
      yield* chunks(tar, 4096);
    } finally {
      closed = true;
    }
  })();
  for await (const entry of readTar(source, "t.tar")) {
    assert.equal(entry.type, "file");
    break;
  }
  assert.ok(closed);
});
