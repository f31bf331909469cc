import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ChecksumMismatchError, DownloadError, downloadFile, type DownloadProgress } from "./download.ts";
import { type Behaviour, md5 } from "../../tests/_archive_server.ts";
import { archiveServer } from "./_testing.ts";
import { tempDir } from "../../tests/_fixtures.ts";

/** 300 kB of non-repeating bytes. */
function payload(n = 300_000, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** A temporary folder and a server of `body` as `a.bin` (with `behaviour`); `dest`: `a.bin` in the folder. */
async function serve(body: Uint8Array, behaviour?: Behaviour) {
  const dir = tempDir();
  const server = await archiveServer({ "a.bin": body });
  if (behaviour) server.behaviours.set("a.bin", behaviour);
  return {
    server,
    url: `${server.url}/a.bin`,
    dest: join(dir.path, "a.bin"),
    async [Symbol.asyncDispose]() {
      await server.close();
      dir[Symbol.dispose]();
    },
  };
}

Deno.test("downloadFile downloads, verifies size and md5, writes a sidecar and reports progress", async () => {
  const body = payload();
  await using t = await serve(body);
  const events: DownloadProgress[] = [];
  const dest = t.dest;
  const r = await downloadFile(t.url, dest, {
    bytes: body.length,
    md5: md5(body),
    onProgress: (e) => events.push(e),
  });
  assert.deepEqual({ ...r, path: undefined }, {
    path: undefined,
    bytes: body.length,
    md5: md5(body),
    status: "downloaded",
    requests: 1,
  });
  assert.deepEqual(new Uint8Array(readFileSync(dest)), body);
  assert.equal(existsSync(`${dest}.part`), false);
  assert.equal(JSON.parse(readFileSync(`${dest}.md5`, "utf8")).md5, md5(body));
  assert.deepEqual(events.at(-1), { phase: "download", bytesDone: body.length, bytesTotal: body.length });
  assert.ok(events.every((e, i) => e.bytesDone >= (events[i - 1]?.bytesDone ?? 0)));
});

Deno.test("downloadFile resumes a connection cut mid-file with a Range request, hashing the prefix", async () => {
  const body = payload();
  await using t = await serve(body, { cutAfter: 100_000 });
  const r = await downloadFile(t.url, t.dest, { bytes: body.length, md5: md5(body), backoffMs: 1 });
  assert.equal(r.status, "downloaded");
  assert.equal(t.server.requests.length, 2);
  assert.equal(t.server.requests[0]?.range, undefined);
  const resumedFrom = Number(/^bytes=(\d+)-$/.exec(t.server.requests[1]?.range ?? "")?.[1]);
  assert.ok(resumedFrom >= 1 && resumedFrom <= 100_000, `second request: ${t.server.requests[1]?.range}`);
  assert.equal(t.server.requests[1]?.status, 206);
  assert.deepEqual(new Uint8Array(readFileSync(t.dest)), body);
});

Deno.test("downloadFile resumes a .part left by an earlier run, and restarts when the server ignores Range", async () => {
  using dir = tempDir();
  const body = payload();
  await using server = await archiveServer({ "a.bin": body, "b.bin": body });
  server.behaviours.set("b.bin", { ignoreRange: true });
  for (const name of ["a.bin", "b.bin"]) {
    const dest = join(dir.path, name);
    writeFileSync(`${dest}.part`, body.subarray(0, 123_456));
    const r = await downloadFile(`${server.url}/${name}`, dest, { bytes: body.length, md5: md5(body) });
    assert.equal(r.md5, md5(body));
    assert.deepEqual(new Uint8Array(readFileSync(dest)), body);
  }
  assert.deepEqual(server.requests.map((q) => [q.path, q.range, q.status]), [
    ["/a.bin", "bytes=123456-", 206],
    ["/b.bin", "bytes=123456-", 200],
  ]);
});

Deno.test("downloadFile: a server that ignores Range after a cut still yields the right file", async () => {
  const body = payload();
  await using t = await serve(body, { cutAfter: 50_000, ignoreRange: true });
  await downloadFile(t.url, t.dest, { md5: md5(body), backoffMs: 1 });
  assert.deepEqual(new Uint8Array(readFileSync(t.dest)), body);
  assert.equal(t.server.requests.length, 2);
  assert.match(t.server.requests[1]?.range ?? "", /^bytes=\d+-$/);
  assert.equal(t.server.requests[1]?.status, 200);
});

Deno.test("downloadFile: an md5 mismatch is retried, then a ChecksumMismatchError, no file left behind", async () => {
  const body = payload();
  await using t = await serve(body);
  const wrong = "0".repeat(32);
  const err = await downloadFile(t.url, t.dest, { md5: wrong, retries: 2, backoffMs: 1 }).catch((e) => e);
  assert.ok(err instanceof ChecksumMismatchError, String(err));
  assert.equal(err.file, "a.bin");
  assert.equal(err.expected, wrong);
  assert.equal(err.actual, md5(body));
  assert.match(err.message, /"a\.bin" has the wrong md5: expected 0{32}, got [0-9a-f]{32}/);
  assert.equal(t.server.requests.length, 3);
  assert.equal(existsSync(t.dest), false);
  assert.equal(existsSync(`${t.dest}.part`), false);
});

Deno.test("downloadFile: a size mismatch against the catalogue is a ChecksumMismatchError of kind size", async () => {
  const body = payload(1000);
  await using t = await serve(body);
  await assert.rejects(
    downloadFile(t.url, t.dest, { bytes: 999, retries: 1, backoffMs: 1 }),
    (e) =>
      e instanceof ChecksumMismatchError && e.kind === "size" && e.expected === "999" &&
      e.actual === "1000",
  );
  assert.equal(existsSync(t.dest), false);
});

Deno.test("downloadFile skips a verified file via its sidecar, and re-checks it when the size changed", async () => {
  const body = payload(5000);
  await using t = await serve(body);
  const opts = { bytes: body.length, md5: md5(body), backoffMs: 1 };
  await downloadFile(t.url, t.dest, opts);
  const phases: string[] = [];
  const again = await downloadFile(t.url, t.dest, { ...opts, onProgress: (e) => phases.push(e.phase) });
  assert.equal(again.status, "skipped");
  assert.deepEqual(phases, [], "a sidecar hit must not re-hash");
  assert.equal(t.server.requests.length, 1);
  writeFileSync(t.dest, body.subarray(0, 100)); // damaged after the fact
  const fixed = await downloadFile(t.url, t.dest, opts);
  assert.equal(fixed.status, "downloaded");
  assert.deepEqual(new Uint8Array(readFileSync(t.dest)), body);
  assert.equal(t.server.requests.length, 2);
});

Deno.test("downloadFile: HTTP 404 fails at once with a DownloadError that hides the query", async () => {
  using dir = tempDir();
  await using server = await archiveServer({});
  await assert.rejects(
    downloadFile(`${server.url}/missing.bin?sig=SECRET`, join(dir.path, "m.bin"), { backoffMs: 1 }),
    (e) =>
      e instanceof DownloadError && e.status === 404 && !e.message.includes("SECRET") &&
      /missing\.bin/.test(e.message),
  );
  assert.equal(server.requests.length, 1);
});

Deno.test("downloadFile: an abort keeps the .part for a later resume", async () => {
  const body = payload(2_000_000);
  await using t = await serve(body);
  const controller = new AbortController();
  await assert.rejects(
    downloadFile(t.url, t.dest, {
      onProgress: (e) => e.bytesDone > 0 && controller.abort(new Error("stop")),
      signal: controller.signal,
    }),
    /stop/,
  );
  assert.equal(existsSync(t.dest), false);
  assert.ok(existsSync(`${t.dest}.part`));
  await downloadFile(t.url, t.dest, { md5: md5(body) });
  assert.deepEqual(new Uint8Array(readFileSync(t.dest)), body);
  assert.match(t.server.requests.at(-1)?.range ?? "", /^bytes=[1-9]\d*-$/);
});

Deno.test("downloadFile: a .part that is already whole is verified after the server answers 416", async () => {
  const body = payload(4000);
  await using t = await serve(body);
  writeFileSync(`${t.dest}.part`, body);
  const r = await downloadFile(t.url, t.dest, { md5: md5(body) });
  assert.equal(r.status, "downloaded");
  assert.deepEqual(t.server.requests.map((q) => [q.range, q.status]), [["bytes=4000-", 416]]);
  assert.deepEqual(new Uint8Array(readFileSync(t.dest)), body);
});
