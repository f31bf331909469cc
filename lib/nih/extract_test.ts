import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { extractArchive, type ExtractProgress, UnsafeArchiveMemberError } from "./extract.ts";
import { CorruptArchiveError, TruncatedArchiveError } from "./tar.ts";
import { gzip, sampleArchive, samplePngs, tarBytes } from "../../tests/_archive_server.ts";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";

function original(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(NIH_SAMPLE, "images", name)));
}

Deno.test("extractArchive writes the PNGs byte-identical, then finds them identical on a second run", async () => {
  using dir = tempDir();
  const names = samplePngs().slice(0, 8);
  const archive = join(dir.path, "images_001.tar.gz");
  writeFileSync(archive, await sampleArchive(names));
  const events: ExtractProgress[] = [];
  const r = await extractArchive(archive, join(dir.path, "out"), { onProgress: (e) => events.push(e) });
  assert.deepEqual(r, {
    images: 8,
    written: 8,
    identical: 0,
    ignored: 0,
    bytes: names.reduce((s, n) => s + original(n).length, 0),
  });
  assert.deepEqual(readdirSync(join(dir.path, "out/images")).sort(), names);
  for (const n of names) {
    assert.deepEqual(new Uint8Array(readFileSync(join(dir.path, "out/images", n))), original(n));
  }
  assert.deepEqual(events.map((e) => e.files), [1, 2, 3, 4, 5, 6, 7, 8, 8]);
  assert.equal(events.at(-1)!.bytesDone, events.at(-1)!.bytesTotal);

  const first = names[0] ?? assert.fail("no sample PNG");
  writeFileSync(join(dir.path, "out/images", first), "damaged");
  const again = await extractArchive(archive, join(dir.path, "out"));
  assert.equal(again.identical, 7);
  assert.equal(again.written, 1);
  assert.deepEqual(new Uint8Array(readFileSync(join(dir.path, "out/images", first))), original(first));
});

Deno.test("extractArchive extracts only images/*.png and ignores other members and folders", async () => {
  using dir = tempDir();
  const archive = join(dir.path, "a.tar.gz");
  writeFileSync(
    archive,
    gzip(tarBytes([
      { name: "images/", flag: "5" },
      { name: "images/x.png", data: new Uint8Array([1, 2]) },
      { name: "README.txt", data: new Uint8Array([3]) },
      { name: "images/sub/y.png", data: new Uint8Array([4]) },
    ])),
  );
  const r = await extractArchive(archive, join(dir.path, "out"));
  assert.equal(r.images, 1);
  assert.equal(r.ignored, 3);
  assert.deepEqual(readdirSync(join(dir.path, "out")), ["images"]);
  assert.deepEqual(readdirSync(join(dir.path, "out/images")), ["x.png"]);
});

Deno.test("extractArchive rejects a path-traversal member and writes nothing outside", async () => {
  using dir = tempDir();
  for (const evil of ["images/../../escaped.png", "/tmp/escaped-abs.png"]) {
    const archive = join(dir.path, "evil.tar.gz");
    writeFileSync(archive, gzip(tarBytes([{ name: evil, data: new Uint8Array([1]) }])));
    await assert.rejects(
      extractArchive(archive, join(dir.path, "out")),
      (e) => e instanceof UnsafeArchiveMemberError && e.member === evil && e.archive === "evil.tar.gz",
    );
  }
  assert.equal(existsSync(join(dir.path, "escaped.png")), false);
  assert.equal(existsSync("/tmp/escaped-abs.png"), false);
});

Deno.test("extractArchive: a truncated archive is a TruncatedArchiveError and leaves no half-written PNG", async () => {
  using dir = tempDir();
  const names = samplePngs().slice(0, 6);
  const whole = await sampleArchive(names);
  const archive = join(dir.path, "images_002.tar.gz");
  writeFileSync(archive, whole.subarray(0, Math.floor(whole.length * 0.6)));
  const out = join(dir.path, "out");
  await assert.rejects(extractArchive(archive, out), (e) => {
    assert.ok(e instanceof TruncatedArchiveError, String(e));
    assert.equal(e.archive, "images_002.tar.gz");
    assert.ok(e.bytesRead > 0);
    assert.match(e.message, /"images_002\.tar\.gz" is truncated: gzip data ends after \d+ bytes of tar data/);
    return true;
  });
  const written = readdirSync(join(out, "images"));
  assert.ok(written.length >= 1 && written.length < names.length, `written: ${written}`);
  for (const n of written) {
    assert.ok(names.includes(n), `unexpected file ${n}`); // no temporary names left
    assert.deepEqual(new Uint8Array(readFileSync(join(out, "images", n))), original(n));
  }
});

Deno.test("extractArchive: tar data ending early inside a complete gzip is a TruncatedArchiveError", async () => {
  using dir = tempDir();
  const tar = tarBytes([{ name: "images/a.png", data: new Uint8Array(2000) }]);
  const archive = join(dir.path, "t.tar.gz");
  writeFileSync(archive, gzip(tar.subarray(0, 1000)));
  await assert.rejects(
    extractArchive(archive, join(dir.path, "out")),
    (e) =>
      e instanceof TruncatedArchiveError && e.bytesRead === 1000 &&
      /member "images\/a\.png" ends/.test(e.message),
  );
});

Deno.test("extractArchive: data that is not gzip, or damaged gzip, is a CorruptArchiveError", async () => {
  using dir = tempDir();
  const archive = join(dir.path, "bad.tar.gz");
  writeFileSync(archive, new TextEncoder().encode("<html>not an archive</html>"));
  await assert.rejects(
    extractArchive(archive, join(dir.path, "out")),
    (e) =>
      e instanceof CorruptArchiveError &&
      /"bad\.tar\.gz" is corrupt at byte \d+: bad gzip data/.test(e.message),
  );
  const good = gzip(tarBytes([{ name: "images/a.png", data: new Uint8Array(5000).fill(7) }]));
  good[good.length - 6] = good.at(-6)! ^ 0xff; // the gzip CRC-32 trailer
  writeFileSync(archive, good);
  await assert.rejects(extractArchive(archive, join(dir.path, "out")), CorruptArchiveError);
});
