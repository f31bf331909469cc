import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { tempDir } from "../../tests/_fixtures.ts";
import { connectStorage } from "./connect.ts";
import { ContainerNotFoundError } from "./errors.ts";
import { downloadPrefix, type TransferProgress, uploadPath } from "./transfer.ts";
import { envSettings, IMAGES, png, PNGS } from "./_testing.ts";

const SIZES = PNGS.map((n) => readFileSync(join(IMAGES, n)).length);
const TOTAL = SIZES.reduce((a, b) => a + b, 0);
const md5 = (path: string) => createHash("md5").update(readFileSync(path)).digest("base64");

Deno.test({
  name: "uploadPath and downloadPrefix against Azurite in-process",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    using tmp = tempDir();
    const settings = envSettings({ CXR_AZURITE_DIR: join(tmp.path, "azurite"), CXR_AZURITE_PORT: "0" });
    await using conn = await connectStorage(settings, { ensureContainers: true });
    const { store } = conn;
    const container = settings.storage.containers.images;
    assert.ok(conn.azurite && conn.azurite.port > 0, "the emulator was started in-process on a free port");
    const sdk = BlobServiceClient.fromConnectionString(conn.azurite.connectionString.reveal());

    await t.step("connectStorage created the four workflow containers", async () => {
      for (const name of Object.values(settings.storage.containers)) {
        assert.equal(await store.containerExists(name), true, name);
      }
    });

    await t.step("a folder goes up with progress events; a second run skips everything", async () => {
      const events: TransferProgress[] = [];
      const s = await uploadPath(IMAGES, { store, container, prefix: "/images/" }, {
        concurrency: 4,
        onProgress: (e) => events.push(e),
      });
      assert.deepEqual(s, { files: PNGS.length, bytes: TOTAL, skipped: 0, failed: 0, failures: [] });
      const totals = { filesTotal: PNGS.length, bytesTotal: TOTAL };
      const none = { files: 0, skipped: 0, failed: 0, bytes: 0, name: undefined };
      assert.deepEqual(events[0], { kind: "scan", ...none, ...totals });
      const last = events.at(-1)!;
      assert.equal(last.files, PNGS.length);
      assert.equal(last.bytes, TOTAL);
      assert.equal(events.filter((e) => e.kind === "file").length, PNGS.length);
      assert.ok(events.every((e, i) => e.bytes >= (events[i - 1]?.bytes ?? 0)));
      const names: string[] = [];
      for await (const b of store.list(container, "images/")) names.push(b.name);
      assert.deepEqual(names, PNGS.map((n) => `images/${n}`));
      const again = await uploadPath(IMAGES, { store, container, prefix: "images" });
      assert.deepEqual(again, { files: 0, bytes: 0, skipped: PNGS.length, failed: 0, failures: [] });
    });

    await t.step("a changed local file is sent again, the others are skipped", async () => {
      const src = join(tmp.path, "three");
      mkdirSync(join(src, "sub"), { recursive: true });
      copyFileSync(join(IMAGES, png(0)), join(src, "a.png"));
      copyFileSync(join(IMAGES, png(1)), join(src, "sub", "b.png"));
      copyFileSync(join(IMAGES, png(2)), join(src, "c.png"));
      const first = await uploadPath(src, { store, container, prefix: "three" });
      assert.equal(first.files, 3);
      copyFileSync(join(IMAGES, png(3)), join(src, "c.png"));
      const second = await uploadPath(src, { store, container, prefix: "three" });
      assert.deepEqual([second.files, second.skipped, second.bytes], [1, 2, SIZES[3]]);
      assert.equal(
        (await store.properties({ container, name: "three/c.png" }))?.md5,
        md5(join(IMAGES, png(3))),
      );
      assert.equal(await store.exists({ container, name: "three/sub/b.png" }), true);
    });

    await t.step("a single file keeps its base name under the prefix", async () => {
      const s = await uploadPath(join(IMAGES, png(5)), { store, container, prefix: "single" });
      assert.equal(s.files, 1);
      assert.equal(await store.exists({ container, name: `single/${png(5)}` }), true);
    });

    await t.step("a folder comes down verified; corrupt or missing files are fetched again", async () => {
      const dest = join(tmp.path, "down");
      const s = await downloadPrefix({ store, container, prefix: "images" }, dest, { concurrency: 8 });
      assert.deepEqual(s, { files: PNGS.length, bytes: TOTAL, skipped: 0, failed: 0, failures: [] });
      for (const n of PNGS) assert.equal(md5(join(dest, n)), md5(join(IMAGES, n)));
      const bytes = readFileSync(join(dest, png(0)));
      bytes[100] = bytes.readUInt8(100) ^ 0xff; // same size, different content
      writeFileSync(join(dest, png(0)), bytes);
      rmSync(join(dest, png(1)));
      const again = await downloadPrefix({ store, container, prefix: "images/" }, dest);
      assert.deepEqual([again.files, again.skipped, again.failed], [2, PNGS.length - 2, 0]);
      assert.equal(md5(join(dest, png(0))), md5(join(IMAGES, png(0))));
      assert.deepEqual(readdirSync(dest).sort(), PNGS);
    });

    await t.step("a prefix naming one blob downloads that blob", async () => {
      const dest = join(tmp.path, "one");
      const s = await downloadPrefix({ store, container, prefix: `images/${png(7)}` }, dest);
      assert.equal(s.files, 1);
      assert.deepEqual(readdirSync(dest), [png(7)]);
    });

    await t.step("a blob failing its checksum is counted failed with a reason, the rest arrive", async () => {
      await sdk.getContainerClient(container).getBlobClient(`three/c.png`).setHTTPHeaders({
        blobContentMD5: new Uint8Array(16),
        blobContentType: "image/png",
      });
      const dest = join(tmp.path, "three-down");
      const s = await downloadPrefix({ store, container, prefix: "three" }, dest);
      assert.equal(s.files, 2);
      assert.equal(s.failed, 1);
      assert.equal(s.failures[0]?.name, "three/c.png");
      assert.match(
        s.failures[0]?.reason ?? "",
        /^BlobChecksumMismatchError: Content-MD5 mismatch for "nih-images\/three\/c.png"/,
      );
      assert.deepEqual(readdirSync(dest).sort(), ["a.png", "sub"]);
    });

    await t.step("bad arguments and a missing container are errors before any transfer", async () => {
      await assert.rejects(
        downloadPrefix({ store, container: "no-such-box" }, join(tmp.path, "x")),
        (e: Error) => e instanceof ContainerNotFoundError && /"no-such-box" does not exist/.test(e.message),
      );
      await assert.rejects(uploadPath(IMAGES, { store, container }, { concurrency: 0 }), RangeError);
      await assert.rejects(uploadPath(join(tmp.path, "nope"), { store, container }), TypeError);
    });
  },
});
