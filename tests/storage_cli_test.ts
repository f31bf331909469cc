/**
 * `data upload` and `data download` as real subprocesses against Azurite running as a subprocess, pointed
 * at through AZURE_STORAGE_CONNECTION_STRING: JSON summaries, resume after a killed run, clear errors.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import { BlobServiceClient } from "@azure/storage-blob";
import { NIH_SAMPLE, REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { spawnAzurite } from "../lib/storage/azurite.ts";

const IMAGES = join(NIH_SAMPLE, "images");
const PNGS = readdirSync(IMAGES).filter((n) => n.endsWith(".png")).sort();
const md5 = (path: string) => createHash("md5").update(readFileSync(path)).digest("base64");
const COPIES = 4;

Deno.test({
  name: "data upload/download through the CLI: JSON summary, resume after a kill, verified download",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    using tmp = tempDir();
    const azurite = await spawnAzurite(join(tmp.path, "azurite"), { port: 0 });
    const cs = azurite.connectionString.reveal();
    const env = { AZURE_STORAGE_CONNECTION_STRING: cs };
    const container = BlobServiceClient.fromConnectionString(cs).getContainerClient("cli-upload");
    const src = join(tmp.path, "src");
    for (let c = 1; c <= COPIES; c++) {
      mkdirSync(join(src, `copy${c}`), { recursive: true });
      for (const n of PNGS) copyFileSync(join(IMAGES, n), join(src, `copy${c}`, n));
    }
    const total = PNGS.length * COPIES;
    const totalBytes = PNGS.reduce((s, n) => s + readFileSync(join(IMAGES, n)).length, 0) * COPIES;
    const count = async () => {
      let n = 0;
      for await (const _ of container.listBlobsFlat()) n++;
      return n;
    };
    try {
      let killedAt = 0;
      await t.step("an upload killed half-way leaves only whole, verified blobs", async () => {
        const child = new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            join(REPO_ROOT, "lib/cli/main.ts"),
            "data",
            "upload",
            "--src",
            src,
            "--container",
            "cli-upload",
            "--prefix",
            "set",
            "--concurrency",
            "2",
            "--json",
          ],
          cwd: tmp.path,
          env,
          stdout: "null",
          stderr: "null",
        }).spawn();
        while ((await container.exists() ? await count() : 0) < 10) {
          await new Promise((r) => setTimeout(r, 25));
        }
        child.kill("SIGKILL");
        const status = await child.status;
        assert.equal(status.success, false);
        killedAt = await count();
        assert.ok(killedAt >= 10 && killedAt < total, `killed after ${killedAt} of ${total} files`);
        for await (const b of container.listBlobsFlat()) {
          assert.equal(
            b.properties.contentMD5 && Buffer.from(b.properties.contentMD5).toString("base64"),
            md5(join(src, b.name.slice("set/".length))),
          );
        }
      });

      await t.step("the next run sends only what is missing and reports the skipped count", async () => {
        const r = await runCxr([
          "data",
          "upload",
          "--src",
          src,
          "--container",
          "cli-upload",
          "--prefix",
          "set",
          "--json",
        ], { cwd: tmp.path, env });
        assert.equal(r.code, 0, r.stderr);
        const summary = JSON.parse(r.stdout);
        assert.deepEqual(Object.keys(summary), ["files", "bytes", "skipped", "failed"]);
        // Requests the server had fully received before the kill (at most --concurrency 2) may still
        // have been committed after we counted; everything else is sent now.
        assert.ok(summary.skipped >= killedAt && summary.skipped <= killedAt + 2, JSON.stringify(summary));
        assert.equal(summary.files + summary.skipped, total);
        assert.equal(summary.failed, 0);
        assert.equal(await count(), total);
        for await (const b of container.listBlobsFlat()) {
          assert.equal(
            Buffer.from(b.properties.contentMD5!).toString("base64"),
            md5(join(src, b.name.slice(4))),
          );
        }
        const again = await runCxr([
          "data",
          "upload",
          "--src",
          src,
          "--container",
          "cli-upload",
          "--prefix",
          "set",
        ], { cwd: tmp.path, env });
        assert.equal(again.code, 0, again.stderr);
        assert.equal(again.stdout.trim(), `uploaded 0 files (0 B), skipped ${total} already there, failed 0`);
        assert.ok(totalBytes > 0);
      });

      await t.step("download writes the same bytes, then skips them on the next run", async () => {
        const dest = join(tmp.path, "dest");
        const args = [
          "data",
          "download",
          "--container",
          "cli-upload",
          "--prefix",
          "set/copy2",
          "--dest",
          dest,
          "--concurrency",
          "4",
          "--json",
        ];
        const r = await runCxr(args, { cwd: tmp.path, env });
        assert.equal(r.code, 0, r.stderr);
        const bytes = PNGS.reduce((s, n) => s + readFileSync(join(IMAGES, n)).length, 0);
        assert.deepEqual(JSON.parse(r.stdout), { files: PNGS.length, bytes, skipped: 0, failed: 0 });
        assert.deepEqual(readdirSync(dest).sort(), PNGS);
        for (const n of PNGS) assert.equal(md5(join(dest, n)), md5(join(IMAGES, n)));
        const again = await runCxr(args, { cwd: tmp.path, env });
        assert.deepEqual(JSON.parse(again.stdout), { files: 0, bytes: 0, skipped: PNGS.length, failed: 0 });
      });

      await t.step(
        "a download killed half-way leaves no half-written file; the next run completes it",
        async () => {
          const dest = join(tmp.path, "killed");
          const args = [
            "data",
            "download",
            "--container",
            "cli-upload",
            "--prefix",
            "set",
            "--dest",
            dest,
            "--concurrency",
            "2",
            "--json",
          ];
          const child = new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", join(REPO_ROOT, "lib/cli/main.ts"), ...args],
            cwd: tmp.path,
            env,
            stdout: "null",
            stderr: "null",
          }).spawn();
          const complete = () => {
            try {
              return readdirSync(dest, { recursive: true, withFileTypes: true })
                .filter((e) => e.isFile() && !e.name.includes(".cxr-part-"));
            } catch {
              return [];
            }
          };
          while (complete().length < 10) await new Promise((r) => setTimeout(r, 25));
          child.kill("SIGKILL");
          assert.equal((await child.status).success, false);
          const done = complete();
          assert.ok(
            done.length >= 10 && done.length < total,
            `killed after ${done.length} of ${total} files`,
          );
          for (const e of done) {
            assert.equal(
              md5(join(e.parentPath, e.name)),
              md5(join(IMAGES, e.name)),
              "a complete file is whole",
            );
          }
          const r = await runCxr(args, { cwd: tmp.path, env });
          assert.equal(r.code, 0, r.stderr);
          const summary = JSON.parse(r.stdout);
          assert.deepEqual([summary.skipped, summary.files, summary.failed], [
            done.length,
            total - done.length,
            0,
          ]);
          const after = readdirSync(dest, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
          assert.equal(after.length, total, "every file there and no temp file left");
        },
      );

      await t.step("--container metadata means the configured metadata container", async () => {
        const r = await runCxr(
          ["data", "upload", "--src", join(NIH_SAMPLE, "test_list.txt"), "--container", "metadata", "--json"],
          { cwd: tmp.path, env: { ...env, CXR_CONTAINER_METADATA: "meta-test" } },
        );
        assert.equal(r.code, 0, r.stderr);
        const blob = BlobServiceClient.fromConnectionString(cs).getContainerClient("meta-test").getBlobClient(
          "test_list.txt",
        );
        assert.equal((await blob.getProperties()).contentType, "text/plain");
      });

      await t.step("a missing container on download is a one-line error, exit 1", async () => {
        const r = await runCxr([
          "data",
          "download",
          "--container",
          "no-such-box",
          "--dest",
          join(tmp.path, "x"),
        ], { cwd: tmp.path, env });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /Container "no-such-box" does not exist in account "devstoreaccount1"/);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
      });

      await t.step("a wrong key names the account, never the key, exit 1", async () => {
        const wrong = btoa("w".repeat(64));
        const r = await runCxr(["data", "upload", "--src", join(src, "copy1"), "--container", "cli-upload"], {
          cwd: tmp.path,
          env: { AZURE_STORAGE_CONNECTION_STRING: cs.replace(/AccountKey=[^;]+/, `AccountKey=${wrong}`) },
        });
        assert.equal(r.code, 1);
        assert.match(r.stderr, /authentication failed for account "devstoreaccount1"/);
        assert.ok(!r.stderr.includes(wrong) && !r.stdout.includes(wrong));
        assert.doesNotMatch(r.stderr, /\n\s+at /);
      });
    } finally {
      await azurite.close();
    }
  },
});

Deno.test("an unreachable endpoint and a bad --concurrency give clear errors", async () => {
  using tmp = tempDir();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const env = {
    AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${
      btoa("k".repeat(64))
    };BlobEndpoint=http://127.0.0.1:${port}/devstoreaccount1;`,
  };
  const r = await runCxr(["data", "upload", "--src", IMAGES, "--container", "images"], {
    cwd: tmp.path,
    env,
  });
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    new RegExp(`Cannot reach blob storage at 127\\.0\\.0\\.1:${port} \\(connection refused\\)`),
  );
  const missing = await runCxr(["data", "upload", "--src", join(tmp.path, "nope"), "--container", "images"], {
    cwd: tmp.path,
    env,
  });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--src ".*nope" does not exist/);
  const bad = await runCxr(
    ["data", "upload", "--src", IMAGES, "--container", "images", "--concurrency", "0"],
    {
      cwd: tmp.path,
      env,
    },
  );
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--concurrency must be an integer 1\.\.256/);
});

Deno.test({
  name: "data upload/download to an endpoint that accepts connections and never answers fail in bounded time",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using tmp = tempDir();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    const conns: Deno.Conn[] = [];
    const accepting = (async () => {
      try {
        for await (const c of listener) conns.push(c); // accepted, then never read or answered
      } catch { /* closed */ }
    })();
    const key = btoa("k".repeat(64));
    const endpoint = `http://127.0.0.1:${port}/devstoreaccount1`;
    const env = {
      AZURE_STORAGE_CONNECTION_STRING:
        `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=${endpoint};`,
      CXR_STORAGE_TIMEOUT_MS: "300",
    };
    try {
      for (
        const args of [
          ["data", "upload", "--src", IMAGES, "--container", "images"],
          ["data", "download", "--dest", join(tmp.path, "down"), "--container", "images"],
        ]
      ) {
        const started = performance.now();
        // Killed after 60 s: without per-try timeouts the command hangs for as long as the socket stays open.
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", join(REPO_ROOT, "lib/cli/main.ts"), ...args],
          cwd: tmp.path,
          env: { NO_COLOR: "1", ...env },
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(60_000),
        }).output();
        const r = {
          code: out.code,
          stdout: new TextDecoder().decode(out.stdout),
          stderr: new TextDecoder().decode(out.stderr),
        };
        const seconds = (performance.now() - started) / 1000;
        assert.equal(r.code, 1, `${args[1]}: exit ${r.code} after ${seconds} s; ${r.stderr}`);
        // 4 tries of 0.3 s plus backoff (at most 0.2 + 0.4 + 0.8 s) plus Deno's start: far below a hang.
        assert.ok(seconds < 30, `${args[1]} took ${seconds} s`);
        assert.match(
          r.stderr,
          new RegExp(
            `error: StorageTimeoutError: Blob storage at ${endpoint.replaceAll(".", "\\.")} did not answer ` +
              `for "nih-images": each of 4 tries gave up after 300 ms without an answer or a byte moved ` +
              `\\(CXR_STORAGE_TIMEOUT_MS\\)`,
          ),
        );
        assert.match(r.stderr, /warning: Blob storage at .* did not answer .*; trying again \(try 2\)/);
        assert.ok(!r.stderr.includes(key) && !r.stdout.includes(key), "the key is never printed");
        assert.doesNotMatch(r.stderr, /\n\s+at /);
      }
    } finally {
      listener.close();
      for (const c of conns) c.close();
      await accepting;
    }
  },
});
