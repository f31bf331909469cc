/** `deno task cxr data fetch` run as a real subprocess against a local archive server. */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { md5, sampleArchive, samplePngs, startArchiveServer } from "./_archive_server.ts";
import { NIH_SAMPLE, runCxr, tempDir } from "./_fixtures.ts";

Deno.test("data fetch --json downloads and extracts from --base-url with a --catalogue, then skips on re-run", async () => {
  using dir = tempDir();
  const pngs = samplePngs();
  const parts = [pngs.slice(0, 20), pngs.slice(20)] as const;
  const archives = await Promise.all([sampleArchive(parts[0]), sampleArchive(parts[1])]);
  const server = await startArchiveServer({
    "images_001.tar.gz": archives[0],
    "images_002.tar.gz": archives[1],
  });
  server.behaviours.set("images_001.tar.gz", { cutAfter: 200_000 });
  const catalogue = join(dir.path, "catalogue.json");
  writeFileSync(
    catalogue,
    JSON.stringify({
      archives: archives.map((b, i) => ({
        number: i + 1,
        name: `images_00${i + 1}.tar.gz`,
        url: "https://nihcc.box.com/shared/static/unused.gz",
        bytes: b.length,
        md5: md5(b),
      })),
    }),
  );
  const dest = join(dir.path, "nih");
  const args = [
    "data",
    "fetch",
    "--dest",
    dest,
    "--catalogue",
    catalogue,
    "--base-url",
    server.url,
    "--json",
  ];
  try {
    const r = await runCxr(args);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.deepEqual(summary, {
      archives: archives.map((b, i) => ({
        name: `images_00${i + 1}.tar.gz`,
        bytes: b.length,
        md5: md5(b),
        status: "downloaded",
        images: parts[i]?.length,
      })),
      files: [],
      images: 39,
      failed: 0,
    });
    assert.match(r.stderr, /download images_001\.tar\.gz/);
    assert.match(r.stderr, /extract images_002\.tar\.gz/);
    assert.equal(readdirSync(join(dest, "images")).length, 39);
    for (const n of pngs) {
      assert.deepEqual(readFileSync(join(dest, "images", n)), readFileSync(join(NIH_SAMPLE, "images", n)));
    }
    const ranges = server.requests.filter((q) => q.path === "/images_001.tar.gz").map((q) => q.range);
    assert.equal(ranges.length, 2);
    assert.match(ranges[1] ?? "", /^bytes=\d+-$/);

    const count = server.requests.length;
    const again = await runCxr(args);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).archives.map((a: { status: string }) => a.status), [
      "skipped",
      "skipped",
    ]);
    assert.equal(server.requests.length, count);
  } finally {
    await server.close();
  }
});

Deno.test("data fetch exits 1 when an archive fails, naming the file and the checksums", async () => {
  using dir = tempDir();
  const archive = await sampleArchive(samplePngs().slice(0, 3));
  const server = await startArchiveServer({ "images_001.tar.gz": archive });
  const catalogue = join(dir.path, "c.json");
  const wrong = "f".repeat(32);
  writeFileSync(
    catalogue,
    JSON.stringify({ archives: [{ number: 1, name: "images_001.tar.gz", url: server.url, md5: wrong }] }),
  );
  try {
    const r = await runCxr(
      [
        "data",
        "fetch",
        "--dest",
        join(dir.path, "d"),
        "--catalogue",
        catalogue,
        "--base-url",
        server.url,
        "--retries",
        "0",
      ],
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stdout,
      /images_001\.tar\.gz {2}failed: ChecksumMismatchError: .*expected f{32}, got [0-9a-f]{32}/,
    );
    assert.match(r.stdout, /0 images in .*, 1 failed/);
  } finally {
    await server.close();
  }
});

Deno.test("data fetch --only rejects 0, 13 and x with exit 2 and the valid range", async () => {
  using dir = tempDir();
  for (const bad of ["0", "13", "x", "3-1"]) {
    const r = await runCxr(["data", "fetch", "--dest", dir.path, "--only", bad]);
    assert.equal(r.code, 2, `--only ${bad}`);
    assert.match(r.stderr, /--only: .*valid archive numbers: 1\.\.12/);
  }
  const noDest = await runCxr(["data", "fetch"]);
  assert.equal(noDest.code, 2);
  assert.match(noDest.stderr, /--dest is required/);
  const help = await runCxr(["data", "fetch", "--help"]);
  assert.match(help.stdout, /--catalogue FILE/);
});
