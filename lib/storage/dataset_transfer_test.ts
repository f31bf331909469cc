import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { JUPYTER_DISPLAY } from "../display.ts";
import { AZURITE_ACCOUNT_KEY } from "./azurite.ts";
import { connectStorage } from "./connect.ts";
import { ContainerNotFoundError } from "./errors.ts";
import { type DatasetTransferProgress, downloadDataset, uploadDataset } from "./dataset_transfer.ts";
import { envSettings, png, PNGS } from "./_testing.ts";

const LABELS = [
  "BBox_List_2017.csv.gz",
  "Data_Entry_2017_excerpt.csv",
  "Data_Entry_2017_v2020.csv.gz",
  "test_list.txt",
  "train_val_list.txt",
];
const size = (p: string) => statSync(p).size;
const md5 = (p: string) => createHash("md5").update(readFileSync(p)).digest("hex");

Deno.test({
  name: "uploadDataset and downloadDataset move the real NIH sample through Azurite in-process",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    using tmp = tempDir();
    const settings = envSettings({ CXR_AZURITE_DIR: join(tmp.path, "azurite"), CXR_AZURITE_PORT: "0" });
    await using conn = await connectStorage(settings);
    const { containers } = settings.storage;
    const splitFile = join(tmp.path, "split-notebook.json");
    writeFileSync(splitFile, '{"format":"cxr-split/1"}\n');

    await t.step("labels, split file and images go to their containers, with progress per part", async () => {
      const events: DatasetTransferProgress[] = [];
      const up = await uploadDataset(NIH_SAMPLE, conn, { splitFile, onProgress: (e) => events.push(e) });
      const labelBytes = LABELS.reduce((n, f) => n + size(join(NIH_SAMPLE, f)), 0) + size(splitFile);
      const imageBytes = PNGS.reduce((n, f) => n + size(join(NIH_SAMPLE, "images", f)), 0);
      assert.deepEqual(
        up.rows.map((r) => [r.role, r.container, r.files, r.bytes, r.skipped, r.failed]),
        [
          ["metadata", containers.metadata, 6, labelBytes, 0, 0],
          ["images", containers.images, PNGS.length, imageBytes, 0, 0],
          ["archives", containers.archives, 0, 0, 0, 0],
        ],
      );
      const names: string[] = [];
      for await (const b of conn.store.list(containers.metadata)) names.push(b.name);
      assert.deepEqual(names, [...LABELS, "split-notebook.json"].sort());
      assert.ok(await conn.store.exists({ container: containers.images, name: png(0) }));
      // Metadata is six uploads; its events count on across them up to the part's totals.
      const meta = events.filter((e) => e.role === "metadata");
      assert.deepEqual([meta.at(-1)!.files, meta.at(-1)!.filesTotal, meta.at(-1)!.bytes], [6, 6, labelBytes]);
      assert.ok(meta.every((m, i) => m.bytes >= (meta[i - 1]?.bytes ?? 0)));
      assert.equal(events.filter((e) => e.role === "images" && e.kind === "file").length, PNGS.length);
      assert.deepEqual(up.total, {
        files: 6 + PNGS.length,
        bytes: labelBytes + imageBytes,
        skipped: 0,
        failed: 0,
      });
      assert.equal(up.ok, true);

      const again = await uploadDataset(NIH_SAMPLE, conn, { splitFile });
      assert.deepEqual([again.total.files, again.total.skipped], [0, 6 + PNGS.length]);
    });

    await t.step("the training side gets the NIH layout back, verified", async () => {
      const dest = join(tmp.path, "training-side");
      const down = await downloadDataset(conn, dest);
      const rows = down.rows.map((r) => [r.role, r.files, r.failed]);
      assert.deepEqual(rows, [["metadata", 6, 0], ["images", PNGS.length, 0]]);
      assert.deepEqual(readdirSync(dest).sort(), [...LABELS, "images", "split-notebook.json"].sort());
      for (const f of LABELS) assert.equal(md5(join(dest, f)), md5(join(NIH_SAMPLE, f)), f);
      for (const f of PNGS) assert.equal(md5(join(dest, "images", f)), md5(join(NIH_SAMPLE, "images", f)), f);
      const again = await downloadDataset(conn, dest);
      assert.equal(again.total.skipped, 6 + PNGS.length);
    });

    await t.step("a blob failing its checksum is a failed row entry shown in the table", async () => {
      const sdk = BlobServiceClient.fromConnectionString(conn.azurite!.connectionString.reveal());
      await sdk.getContainerClient(containers.metadata).getBlobClient("test_list.txt").setHTTPHeaders({
        blobContentMD5: new Uint8Array(16),
        blobContentType: "text/plain",
      });
      const down = await downloadDataset(conn, join(tmp.path, "other"), { roles: ["metadata"] });
      assert.equal(down.ok, false);
      assert.deepEqual([down.rows[0]?.files, down.rows[0]?.failed], [5, 1]);
      const bundle = down[JUPYTER_DISPLAY]();
      assert.match(
        bundle["text/html"],
        /<td>metadata<\/td><td>nih-metadata<\/td><td>5<\/td><td>[^<]+<\/td><td>0<\/td><td>1<\/td>/,
      );
      assert.match(bundle["text/html"], /<li>test_list.txt: BlobChecksumMismatchError/);
      assert.match(bundle["text/plain"], /^Downloaded from http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\n/);
      const all = JSON.stringify(down) + bundle["text/html"] + bundle["text/plain"];
      assert.ok(!all.includes(AZURITE_ACCOUNT_KEY.reveal()), "no account key in the summary");
    });

    await t.step(
      "archives go up when present; the archives container comes down only when asked",
      async () => {
        const data = join(tmp.path, "with-archives");
        mkdirSync(join(data, "archives"), { recursive: true });
        copyFileSync(join(NIH_SAMPLE, "train_val_list.txt"), join(data, "train_val_list.txt"));
        writeFileSync(join(data, "archives", "images_001.tar.gz"), "not really gzip");
        writeFileSync(join(data, "archives", "images_001.tar.gz.md5"), "abc");
        writeFileSync(join(data, "README.md"), "not a label file");
        const up = await uploadDataset(data, conn, { roles: ["archives", "metadata"] });
        const rows = up.rows.map((r) => [r.role, r.files, r.skipped]);
        assert.deepEqual(rows, [["archives", 1, 0], ["metadata", 0, 1]]);
        const dest = join(tmp.path, "archives-down");
        const down = await downloadDataset(conn, dest, { roles: ["archives"] });
        assert.deepEqual(readdirSync(join(dest, "archives")), ["images_001.tar.gz"]);
        assert.equal(down.total.files, 1);
      },
    );

    await t.step("bad arguments and missing containers are errors", async () => {
      await assert.rejects(
        uploadDataset(NIH_SAMPLE, conn, { roles: ["models" as never] }),
        /unknown role "models"/,
      );
      await assert.rejects(
        uploadDataset(NIH_SAMPLE, conn, { splitFile: join(tmp.path, "nope.json") }),
        TypeError,
      );
      const renamed = { store: conn.store, containers: { ...containers, images: "no-such-images" } };
      await assert.rejects(
        downloadDataset(renamed, join(tmp.path, "x"), { roles: ["images"] }),
        ContainerNotFoundError,
      );
    });
  },
});
