/**
 * One conformance suite for the BlobStore interface, run against every implementation present: Azurite
 * in-process and Azurite as a subprocess (both real servers, data on disk). A real Azure account joins when
 * CXR_TEST_AZURE_CONNECTION_STRING is set; without one its case is registered as ignored, with the reason in
 * its name.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BlobServiceClient } from "@azure/storage-blob";
import { tempDir } from "../../tests/_fixtures.ts";
import { type AzuriteServer, spawnAzurite, startAzurite } from "./azurite.ts";
import type { BlobStore } from "./blob_store.ts";
import { connectStorage } from "./connect.ts";
import {
  BlobChecksumMismatchError,
  ContainerNotFoundError,
  FileChangedError,
  StorageAuthError,
  StorageUnreachableError,
} from "./errors.ts";
import { IMAGES, png, PNGS, settingsAtPort, settingsFor } from "./_testing.ts";

const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("base64");

interface Opened {
  store: BlobStore;
  connectionString: string;
  close(): Promise<void>;
}
interface Factory {
  name: string;
  skip?: string | undefined;
  open(dir: string): Promise<Opened>;
}

async function viaAzurite(server: AzuriteServer): Promise<Opened> {
  const cs = server.connectionString.reveal();
  const conn = await connectStorage(settingsFor(cs));
  return {
    store: conn.store,
    connectionString: cs,
    close: async () => {
      await conn.close();
      await server.close();
    },
  };
}

const azureCs = Deno.env.get("CXR_TEST_AZURE_CONNECTION_STRING");
const FACTORIES: Factory[] = [
  { name: "Azurite in-process", open: async (dir) => viaAzurite(await startAzurite(dir, { port: 0 })) },
  { name: "Azurite subprocess", open: async (dir) => viaAzurite(await spawnAzurite(dir, { port: 0 })) },
  {
    name: "Azure Blob Storage",
    skip: azureCs ? undefined : "no Azure account: set CXR_TEST_AZURE_CONNECTION_STRING to run it",
    open: async () => {
      const conn = await connectStorage(settingsFor(azureCs!));
      return { store: conn.store, connectionString: azureCs!, close: conn.close };
    },
  },
];

/** Every BlobStore behaviour, step by step, on a fresh container; the SDK reaches behind the store. */
async function conformance(t: Deno.TestContext, opened: Opened, container: string, tmp: string) {
  const { store, connectionString } = opened;
  const sdk = BlobServiceClient.fromConnectionString(connectionString);
  await t.step("ensureContainer creates once, containerExists sees it", async () => {
    assert.equal(await store.containerExists(container), false);
    assert.equal(await store.ensureContainer(container), true);
    assert.equal(await store.ensureContainer(container), false);
    assert.equal(await store.containerExists(container), true);
  });

  await t.step("uploadFile sets size, Content-MD5 and Content-Type; properties and exists", async () => {
    const path = join(IMAGES, png(0));
    const bytes = readFileSync(path);
    const info = await store.uploadFile(path, { container, name: `a/${png(0)}` });
    assert.equal(info.md5, md5(bytes));
    const props = await store.properties({ container, name: `a/${png(0)}` });
    assert.equal(props?.size, bytes.length);
    assert.equal(props?.md5, md5(bytes));
    assert.equal(props?.contentType, "image/png");
    assert.equal(await store.exists({ container, name: `a/${png(0)}` }), true);
    assert.equal(await store.exists({ container, name: "a/missing.png" }), false);
  });

  await t.step("list filters by prefix, in name order", async () => {
    for (const n of PNGS.slice(1, 3)) {
      await store.uploadFile(join(IMAGES, n), { container, name: `a/${n}` });
    }
    await store.uploadFile(join(IMAGES, png(3)), { container, name: `b/${png(3)}` });
    const names = async (prefix: string) => {
      const out: string[] = [];
      for await (const b of store.list(container, prefix)) out.push(b.name);
      return out;
    };
    assert.deepEqual(await names("a/"), PNGS.slice(0, 3).map((n) => `a/${n}`));
    assert.deepEqual(await names("b/"), [`b/${png(3)}`]);
    assert.equal((await names("")).length, 4);
    assert.deepEqual(await names("zzz/"), []);
  });

  await t.step("downloadFile writes the same bytes and leaves no temp file", async () => {
    const dest = join(tmp, "dl", "x.png");
    const info = await store.downloadFile({ container, name: `a/${png(1)}` }, dest);
    assert.deepEqual(readFileSync(dest), readFileSync(join(IMAGES, png(1))));
    assert.equal(info.md5, md5(readFileSync(dest)));
    assert.deepEqual(readdirSync(join(tmp, "dl")), ["x.png"]);
  });

  await t.step("a file larger than the block size goes up in blocks with the whole-file MD5", async () => {
    const big = join(tmp, "big.bin");
    const parts = PNGS.map((n) => readFileSync(join(IMAGES, n)));
    const data = Buffer.concat(parts).subarray(0, 10 * 1024 * 1024);
    writeFileSync(big, data);
    const seen: number[] = [];
    const info = await store.uploadFile(big, { container, name: "big.bin" }, {
      blockSize: 4 * 1024 * 1024,
      onBytes: (n) => seen.push(n),
    });
    assert.equal(info.md5, md5(data));
    assert.deepEqual(seen.sort((x, y) => x - y), [2, 4, 4].map((m) => m * 1024 * 1024));
    const blockBlob = sdk.getContainerClient(container).getBlockBlobClient("big.bin");
    const blocks = await blockBlob.getBlockList("committed");
    assert.equal(blocks.committedBlocks?.length, 3);
    assert.equal((await store.properties({ container, name: "big.bin" }))?.md5, md5(data));
    const back = join(tmp, "big-back.bin");
    await store.downloadFile({ container, name: "big.bin" }, back);
    assert.ok(readFileSync(back).equals(data));
  });

  await t.step("an interrupted block upload resumes, sending only the blocks not yet staged", async () => {
    const path = join(tmp, "resume.bin");
    const data = Buffer.concat(PNGS.slice().reverse().map((n) => readFileSync(join(IMAGES, n))))
      .subarray(0, 9 * 1024 * 1024);
    writeFileSync(path, data);
    const blockSize = 2 * 1024 * 1024;
    let blocks = 0;
    await assert.rejects(
      store.uploadFile(path, { container, name: "resume.bin" }, {
        blockSize,
        blockConcurrency: 1,
        onBytes: () => {
          if (++blocks === 2) throw new Error("killed after two blocks");
        },
      }),
      /killed after two blocks/,
    );
    assert.equal(await store.exists({ container, name: "resume.bin" }), false);
    let sent = 0;
    const info = await store.uploadFile(path, { container, name: "resume.bin" }, {
      blockSize,
      onBytes: (n) => sent += n,
    });
    assert.equal(sent, data.length - 2 * blockSize);
    assert.equal(info.md5, md5(data));
    const back = join(tmp, "resume-back.bin");
    await store.downloadFile({ container, name: "resume.bin" }, back);
    assert.ok(readFileSync(back).equals(data));
  });

  await t.step("a file that changes during a block upload fails and commits nothing", async () => {
    const path = join(tmp, "growing.bin");
    writeFileSync(path, Buffer.concat(PNGS.slice(0, 8).map((n) => readFileSync(join(IMAGES, n)))));
    let touched = false;
    await assert.rejects(
      store.uploadFile(path, { container, name: "growing.bin" }, {
        blockSize: 1024 * 1024,
        onBytes: () => {
          if (!touched) appendFileSync(path, readFileSync(join(IMAGES, png(9))));
          touched = true;
        },
      }),
      (e: Error) => e instanceof FileChangedError && /changed while it was being uploaded/.test(e.message),
    );
    assert.equal(await store.exists({ container, name: "growing.bin" }), false);
  });

  await t.step("a download whose bytes do not match Content-MD5 fails and writes nothing", async () => {
    const name = `a/${png(2)}`;
    await sdk.getContainerClient(container).getBlobClient(name).setHTTPHeaders({
      blobContentMD5: new Uint8Array(16),
      blobContentType: "image/png",
    });
    const dir = join(tmp, "bad");
    await assert.rejects(
      store.downloadFile({ container, name }, join(dir, "y.png")),
      (e: Error) => e instanceof BlobChecksumMismatchError && /Content-MD5 mismatch/.test(e.message),
    );
    assert.deepEqual(readdirSync(dir), []);
  });

  await t.step("a read-only SAS URL reads but is refused a write", async () => {
    const ref = { container, name: `a/${png(0)}` };
    const url = await store.sasUrl(ref);
    assert.match(url, /sp=r(&|$)/);
    const got = await fetch(url);
    assert.equal(got.status, 200);
    const original = readFileSync(join(IMAGES, png(0)));
    assert.deepEqual(new Uint8Array(await got.arrayBuffer()), new Uint8Array(original));
    const headers = { "x-ms-blob-type": "BlockBlob" };
    const put = await fetch(url, { method: "PUT", headers, body: "overwrite" });
    await put.body?.cancel();
    assert.equal(put.status, 403);
    const del = await fetch(url, { method: "DELETE" });
    await del.body?.cancel();
    assert.equal(del.status, 403);
    assert.equal((await store.properties(ref))?.size, original.length);
    const list = await fetch(`${await store.sasUrl({ container })}&restype=container&comp=list&prefix=b/`);
    assert.equal(list.status, 200);
    assert.match(await list.text(), new RegExp(`<Name>b/${png(3)}</Name>`));
    await assert.rejects(store.sasUrl(ref, { permissions: "rx" }), RangeError);
  });

  await t.step("delete removes once; listing a missing container is ContainerNotFoundError", async () => {
    assert.equal(await store.delete({ container, name: `b/${png(3)}` }), true);
    assert.equal(await store.delete({ container, name: `b/${png(3)}` }), false);
    await assert.rejects(
      (async () => {
        for await (const _ of store.list("no-such-container", "")) { /* nothing */ }
      })(),
      (e: Error) =>
        e instanceof ContainerNotFoundError && /"no-such-container" does not exist/.test(e.message),
    );
  });

  await t.step("a wrong key is an authentication error naming the account, not the key", async () => {
    const wrongKey = Buffer.from("not-the-key-".repeat(6)).toString("base64");
    const cs = connectionString.replace(/AccountKey=[^;]+/, `AccountKey=${wrongKey}`);
    const conn = await connectStorage(settingsFor(cs));
    const err = await conn.store.containerExists(container).then(() => undefined, (e: Error) => e);
    assert.ok(err instanceof StorageAuthError, String(err));
    assert.match(err.message, new RegExp(`authentication failed for account "${store.account}"`));
    assert.ok(!err.message.includes(wrongKey) && !err.message.includes("AccountKey"));
    await conn.close();
  });
}

for (const factory of FACTORIES) {
  Deno.test({
    name: `BlobStore conformance: ${factory.name}${factory.skip ? ` (skipped: ${factory.skip})` : ""}`,
    ignore: factory.skip !== undefined,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      using dir = tempDir();
      const opened = await factory.open(join(dir.path, "azurite"));
      const { store, close } = opened;
      const container = `conf-${crypto.randomUUID().slice(0, 8)}`;
      try {
        await conformance(t, opened, container, dir.path);
      } finally {
        for (const name of ["big.bin", "resume.bin"]) await store.delete({ container, name }).catch(() => {});
        await close();
      }
    },
  });
}

Deno.test("an unreachable endpoint fails fast with the host and port", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close(); // nothing listens there now
  const conn = await connectStorage(settingsAtPort(port));
  const err = await conn.store.ensureContainer("images").then(() => undefined, (e: Error) => e);
  assert.ok(err instanceof StorageUnreachableError, String(err));
  assert.equal(err.message, `Cannot reach blob storage at 127.0.0.1:${port} (connection refused)`);
  await conn.close();
});
