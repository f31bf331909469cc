import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fetchArchives, type FetchProgress } from "./fetch.ts";
import { md5, sampleArchive, samplePngs } from "../../tests/_archive_server.ts";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { archiveServer, catalogueOf } from "./_testing.ts";

/** Two test archives from the 39 sample PNGs (20 + 19), the files to serve, and their catalogue. */
async function setup() {
  const pngs = samplePngs();
  assert.equal(pngs.length, 39);
  const names: [string[], string[]] = [pngs.slice(0, 20), pngs.slice(20)];
  const bytes = await Promise.all(names.map((n) => sampleArchive(n)));
  const listText = new TextEncoder().encode("00000001_000.png\n00000002_000.png");
  const files = {
    "images_001.tar.gz": bytes[0] ?? assert.fail("no first archive"),
    "images_002.tar.gz": bytes[1] ?? assert.fail("no second archive"),
    "test_list.txt": listText,
  };
  const test = { name: "test_list.txt", url: "http://unused.invalid/t" };
  const catalogue = catalogueOf(bytes, names.map((n) => n.length), [test]);
  return { files, catalogue, names };
}

function assertExtracted(dest: string, names: string[]) {
  for (const n of names) {
    assert.deepEqual(readFileSync(join(dest, "images", n)), readFileSync(join(NIH_SAMPLE, "images", n)), n);
  }
}

Deno.test("fetchArchives downloads, verifies and extracts the archives; a re-run skips everything", async () => {
  using dir = tempDir();
  const { files, catalogue, names } = await setup();
  await using server = await archiveServer(files);
  const events: FetchProgress[] = [];
  const summary = await fetchArchives(dir.path, {
    catalogue,
    baseUrl: server.url,
    labels: true,
    onProgress: (e) => events.push(e),
  });
  assert.deepEqual(summary, {
    archives: catalogue.archives.map((a) => ({
      name: a.name,
      bytes: a.bytes,
      md5: a.md5,
      status: "downloaded",
      images: a.images,
    })),
    files: [{ name: "test_list.txt", bytes: 33, md5: summary.files[0]?.md5, status: "downloaded" }],
    images: 39,
    failed: 0,
  });
  assertExtracted(dir.path, names.flat());
  assert.deepEqual(readdirSync(join(dir.path, "images")).length, 39);
  assert.equal(readFileSync(join(dir.path, "test_list.txt"), "utf8"), "00000001_000.png\n00000002_000.png");
  for (const [a, images] of [["images_001.tar.gz", 20], ["images_002.tar.gz", 19]] as const) {
    assert.ok(events.some((e) => e.archive === a && e.phase === "download" && e.bytesDone === e.bytesTotal));
    assert.ok(events.some((e) => e.archive === a && e.phase === "extract" && e.files === images));
  }
  const before = server.requests.length;
  const again = await fetchArchives(dir.path, { catalogue, baseUrl: server.url, labels: true });
  assert.deepEqual(again.archives.map((a) => [a.status, a.images]), [["skipped", 20], ["skipped", 19]]);
  assert.equal(again.files[0]?.status, "skipped");
  assert.equal(server.requests.length, before, "a re-run must not download anything");
});

Deno.test("fetchArchives resumes a cut download, honours only, extract: false and keepArchives: false", async () => {
  using dir = tempDir();
  const { files, catalogue, names } = await setup();
  await using server = await archiveServer(files);
  server.behaviours.set("images_002.tar.gz", { cutAfter: 100_000 });
  const dl = await fetchArchives(dir.path, {
    catalogue,
    baseUrl: server.url,
    only: [2],
    extract: false,
    backoffMs: 1,
  });
  assert.deepEqual(dl.archives.map((a) => [a.name, a.status, a.images]), [[
    "images_002.tar.gz",
    "downloaded",
    undefined,
  ]]);
  assert.deepEqual(server.requests.map((r) => r.path), ["/images_002.tar.gz", "/images_002.tar.gz"]);
  assert.match(server.requests[1]?.range ?? "", /^bytes=\d+-$/);
  assert.equal(existsSync(join(dir.path, "images")), false);
  const extractOnly = { catalogue, baseUrl: server.url, only: [2], keepArchives: false };
  const ex = await fetchArchives(dir.path, extractOnly);
  assert.deepEqual(ex.archives.map((a) => [a.status, a.images]), [["downloaded", 19]]);
  assert.equal(server.requests.length, 2, "the verified archive is not downloaded again");
  assertExtracted(dir.path, names[1]);
  assert.equal(existsSync(join(dir.path, "archives/images_002.tar.gz")), false);
  const again = await fetchArchives(dir.path, extractOnly);
  assert.deepEqual(again.archives.map((a) => [a.status, a.images]), [["skipped", 19]]);
  assert.equal(server.requests.length, 2);
});

Deno.test("fetchArchives reports a corrupted archive as failed (ChecksumMismatchError) and fetches the others", async () => {
  using dir = tempDir();
  const { files, catalogue, names } = await setup();
  await using server = await archiveServer(files);
  const bad = server.files.get("images_001.tar.gz")!.slice();
  bad[1000] = bad[1000]! ^ 0xff;
  server.files.set("images_001.tar.gz", bad);
  const summary = await fetchArchives(dir.path, {
    catalogue,
    baseUrl: server.url,
    retries: 1,
    backoffMs: 1,
  });
  assert.equal(summary.failed, 1);
  const [first, second] = summary.archives;
  assert.equal(first?.status, "failed");
  assert.equal(first?.errorName, "ChecksumMismatchError");
  assert.match(
    first?.error ?? "",
    new RegExp(
      `"images_001\\.tar\\.gz" has the wrong md5: expected ${catalogue.archives[0]?.md5}, got ${md5(bad)}`,
    ),
  );
  assert.equal(server.requests.filter((r) => r.path === "/images_001.tar.gz").length, 2);
  assert.deepEqual(readdirSync(join(dir.path, "archives")).filter((n) => n.startsWith("images_001")), []);
  assert.equal(second?.status, "downloaded");
  assertExtracted(dir.path, names[1]);
  assert.equal(summary.images, 19);
});

Deno.test("fetchArchives rejects unknown archive numbers and a bad concurrency", async () => {
  using dir = tempDir();
  await assert.rejects(
    fetchArchives(dir.path, { only: [13] }),
    /no archive 13; valid archive numbers: 1, 2, .*12/,
  );
  await assert.rejects(fetchArchives(dir.path, { concurrency: 0 }), RangeError);
});
