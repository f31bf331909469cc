import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { selectBackend } from "./backend.ts";
import { createDenseNet } from "./densenet.ts";
import { h5Ready, writeKerasH5 } from "./_keras_h5_testing.ts";
import { defaultWeightsCacheDir } from "../config.ts";
import {
  ensureImagenetWeights,
  IMAGENET_WEIGHTS,
  type PretrainedOptions,
  PretrainedWeightsError,
  weightsFileUrl,
  weightsProgress,
} from "./pretrained.ts";
import type { DownloadProgress } from "../nih/download.ts";
import { tempDir } from "../../tests/_fixtures.ts";
import { md5 } from "../../tests/_archive_server.ts";

await selectBackend("cpu");
await h5Ready;

const FILE = IMAGENET_WEIGHTS.file;

/** A small DenseNet "notop" in the Keras save_weights layout: the stand-in for the real 32 MB file. */
const WEIGHTS: Uint8Array = (() => {
  using dir = tempDir();
  const model = createDenseNet({ blocks: [2, 2], growthRate: 4, inputSize: 32, includeTop: false });
  const file = join(dir.path, FILE);
  writeKerasH5(model, file);
  model.dispose();
  return new Uint8Array(readFileSync(file));
})();
const MD5 = md5(WEIGHTS);

interface Seen {
  path: string;
  search: string;
  range: string | null;
  status: number;
}

/**
 * A local HTTP server (Deno.serve on 127.0.0.1, port 0) serving `files` by path with Range support.
 * `cut(path, n)` makes the next request(s) for `path` send `n` body bytes under the full Content-Length and
 * then end the body, so the client sees the connection close mid-body.
 */
function weightsServer(files: Record<string, Uint8Array>) {
  const seen: Seen[] = [];
  const cuts = new Map<string, { at: number; times: number }>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const u = new URL(req.url);
    const path = decodeURIComponent(u.pathname);
    const range = req.headers.get("range");
    const record = (status: number) => seen.push({ path, search: u.search, range, status });
    const body = files[path];
    if (!body) {
      record(404);
      return new Response("not found", { status: 404, statusText: "Not Found" });
    }
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    const start = m ? Number(m[1]) : 0;
    const headers: Record<string, string> = { "content-length": String(body.length - start) };
    if (m) headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
    const status = m ? 206 : 200;
    record(status);
    const cut = cuts.get(path);
    if (cut && cut.times > 0) {
      cut.times--;
      const part = body.subarray(start, Math.max(start, cut.at));
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          if (part.length > 0) c.enqueue(part);
          c.close(); // fewer bytes than Content-Length: the client's body read fails
        },
      });
      return new Response(stream, { status, headers });
    }
    return new Response(body.slice(start), { status, headers });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    cut(path: string, at: number, times = 1) {
      cuts.set(path, { at, times });
    },
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** A port nothing listens on: the "offline" case (connection refused). */
async function closedPort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await new Promise((r) => setTimeout(r, 10));
  return port;
}

const fast: PretrainedOptions = { retries: 1, backoffMs: 1 };

/** Quick retries, the weights under `server`'s `folder`, `cache` as the cache, the stand-in's md5. */
function from(server: { url: string }, cache: { path: string }, folder = "/k/"): PretrainedOptions {
  return { ...fast, baseUrl: `${server.url}${folder}`, cacheDir: cache.path, md5: MD5 };
}

function assertHandPlacement(e: unknown, url: string, md5: string, dest: string): PretrainedWeightsError {
  assert.ok(e instanceof PretrainedWeightsError, `expected PretrainedWeightsError, got ${e}`);
  assert.ok(e.message.includes(url), `message names the URL: ${e.message}`);
  assert.ok(e.message.includes(md5), `message names the md5: ${e.message}`);
  assert.ok(e.message.includes(`put it at ${dest}`), `message names the path: ${e.message}`);
  assert.equal(e.url, url);
  assert.equal(e.md5, md5);
  assert.equal(e.dest, dest);
  return e;
}

Deno.test("pretrained: the imagenet file is Keras Applications' DenseNet121 notop with Keras' md5", () => {
  assert.equal(
    IMAGENET_WEIGHTS.url,
    "https://storage.googleapis.com/tensorflow/keras-applications/densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
  );
  assert.equal(IMAGENET_WEIGHTS.md5, "4912a53fbd2a69346e7f2c0b5ec8c6d3");
  assert.equal(IMAGENET_WEIGHTS.file, "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5");
  assert.equal(IMAGENET_WEIGHTS.bytes, undefined);
  assert.ok(Object.isFrozen(IMAGENET_WEIGHTS));
});

Deno.test("pretrained: the default cache is the user's cache folder, not the work tree", () => {
  assert.equal(defaultWeightsCacheDir({ XDG_CACHE_HOME: "/x/cache", HOME: "/h" }), "/x/cache/cxr/weights");
  assert.equal(defaultWeightsCacheDir({ XDG_CACHE_HOME: "relative", HOME: "/h" }), "/h/.cache/cxr/weights");
  assert.equal(defaultWeightsCacheDir({ HOME: "/home/ada" }), "/home/ada/.cache/cxr/weights");
  assert.ok(!defaultWeightsCacheDir({}).startsWith(Deno.cwd()));
});

Deno.test("pretrained: weightsFileUrl joins the file name before a query and refuses non-http URLs", () => {
  assert.equal(weightsFileUrl("http://m/a", "w.h5"), "http://m/a/w.h5");
  assert.equal(weightsFileUrl("http://m/a//", "w.h5"), "http://m/a/w.h5");
  assert.equal(weightsFileUrl("https://m/?sv=1&sig=abc", "w.h5"), "https://m/w.h5?sv=1&sig=abc");
  assert.throws(
    () => weightsFileUrl("ftp://m/a?sig=topsecretvalue", "w.h5"),
    (e: unknown) => e instanceof TypeError && /http\(s\)/.test(e.message) && !e.message.includes("topsecret"),
  );
});

Deno.test("pretrained: downloads once with progress, then answers from the cache with no request", async () => {
  await using server = weightsServer({ [`/keras/${FILE}`]: WEIGHTS });
  using cache = tempDir();
  const events: DownloadProgress[] = [];
  const options = from(server, cache, "/keras/");
  const first = await ensureImagenetWeights({ ...options, onProgress: (e) => events.push(e) });
  assert.deepEqual(first, {
    source: "imagenet",
    path: join(cache.path, FILE),
    md5: MD5,
    url: `${server.url}/keras/${FILE}`,
    status: "downloaded",
    bytes: WEIGHTS.length,
  });
  assert.equal(md5(readFileSync(first.path)), MD5);
  assert.deepEqual(events.at(-1), {
    phase: "download",
    bytesDone: WEIGHTS.length,
    bytesTotal: WEIGHTS.length,
  });
  assert.deepEqual(readdirSync(cache.path).sort(), [FILE, `${FILE}.md5`]);
  assert.equal(server.seen.length, 1);

  const second = await ensureImagenetWeights(options);
  assert.equal(second.status, "cached");
  assert.equal(second.path, first.path);
  assert.equal(second.md5, MD5);
  assert.equal(server.seen.length, 1, "the cached file needs no HTTP request");
});

Deno.test("pretrained: a connection cut mid-body resumes with a Range request", async () => {
  const path = `/keras/${FILE}`;
  await using server = weightsServer({ [path]: WEIGHTS });
  using cache = tempDir();
  const half = Math.floor(WEIGHTS.length / 2);
  server.cut(path, half);
  const r = await ensureImagenetWeights(from(server, cache, "/keras"));
  assert.equal(r.status, "downloaded");
  assert.equal(md5(readFileSync(r.path)), MD5);
  assert.deepEqual(server.seen.map((s) => [s.range, s.status]), [[null, 200], [`bytes=${half}-`, 206]]);
  assert.ok(!existsSync(`${r.path}.part`));
});

Deno.test("pretrained: a wrong md5 is refused and nothing is left in the cache", async () => {
  await using server = weightsServer({ [`/k/${FILE}`]: WEIGHTS });
  using cache = tempDir();
  const wrong = "0123456789abcdef0123456789abcdef";
  const dest = join(cache.path, FILE);
  await assert.rejects(
    ensureImagenetWeights({ ...from(server, cache), md5: wrong }),
    (e: unknown) => {
      const err = assertHandPlacement(e, `${server.url}/k/${FILE}`, wrong, dest);
      assert.equal(err.reason, "mismatch");
      assert.ok(err.message.includes(MD5), "says which md5 arrived");
      return true;
    },
  );
  assert.deepEqual(readdirSync(cache.path), []);
});

Deno.test("pretrained: a file that keeps ending before its Content-Length is refused, never final", async () => {
  const path = `/k/${FILE}`;
  await using server = weightsServer({ [path]: WEIGHTS });
  using cache = tempDir();
  const dest = join(cache.path, FILE);
  server.cut(path, 1000, Infinity); // every answer stops at byte 1000 of the file
  await assert.rejects(
    ensureImagenetWeights(from(server, cache)),
    (e: unknown) => assertHandPlacement(e, `${server.url}/k/${FILE}`, MD5, dest).reason === "network",
  );
  assert.ok(!existsSync(dest), "no final file");
  assert.ok(!existsSync(`${dest}.md5`), "no sidecar");
  assert.ok(server.seen.length >= 2 && server.seen.slice(1).every((s) => s.range === "bytes=1000-"));
  // What arrived stays as .part only, and a later call with a healthy server resumes from it.
  assert.equal(readFileSync(`${dest}.part`).length, 1000);
  server.cut(path, 0, 0);
  const r = await ensureImagenetWeights(from(server, cache));
  assert.equal(r.md5, MD5);
  assert.equal(server.seen.at(-1)!.range, "bytes=1000-");
});

Deno.test("pretrained: 404 and offline both name the URL, the md5 and where to put the file", async () => {
  await using server = weightsServer({});
  using cache = tempDir();
  const dest = join(cache.path, FILE);
  await assert.rejects(
    ensureImagenetWeights({ ...fast, baseUrl: `${server.url}/missing/`, cacheDir: cache.path }),
    (e: unknown) => {
      const err = assertHandPlacement(e, `${server.url}/missing/${FILE}`, IMAGENET_WEIGHTS.md5, dest);
      assert.equal(err.reason, "http");
      assert.equal(err.status, 404);
      assert.match(err.message, /HTTP 404/);
      return true;
    },
  );
  assert.equal(server.seen.length, 1, "a 404 is not retried");

  const port = await closedPort();
  await assert.rejects(
    ensureImagenetWeights({ ...fast, baseUrl: `http://127.0.0.1:${port}/keras/`, cacheDir: cache.path }),
    (e: unknown) => {
      const url = `http://127.0.0.1:${port}/keras/${FILE}`;
      const err = assertHandPlacement(e, url, IMAGENET_WEIGHTS.md5, dest);
      assert.equal(err.reason, "network");
      assert.match(err.message, /CXR_WEIGHTS_BASE_URL/);
      return true;
    },
  );
  assert.deepEqual(readdirSync(cache.path), []);
});

Deno.test("pretrained: a corrupted cached file (same size, new mtime) is detected and downloaded again", async () => {
  const path = `/k/${FILE}`;
  await using server = weightsServer({ [path]: WEIGHTS });
  using cache = tempDir();
  const options = from(server, cache);
  const { path: file } = await ensureImagenetWeights(options);
  const corrupt = () => {
    const bytes = new Uint8Array(readFileSync(file));
    bytes[bytes.length >> 1]! ^= 0xff;
    Deno.writeFileSync(file, bytes);
    const later = new Date(Date.now() + 5000);
    Deno.utimeSync(file, later, later);
  };
  corrupt();
  const again = await ensureImagenetWeights(options);
  assert.equal(again.status, "downloaded");
  assert.equal(md5(readFileSync(file)), MD5);
  assert.equal(server.seen.length, 2);

  // Corrupted while offline: refused, the bad copy removed, and the message says so.
  corrupt();
  const port = await closedPort();
  await assert.rejects(
    ensureImagenetWeights({ ...options, baseUrl: `http://127.0.0.1:${port}/k/` }),
    (e: unknown) =>
      e instanceof PretrainedWeightsError && e.reason === "network" &&
      /wrong md5 and was removed/.test(e.message),
  );
  assert.ok(!existsSync(file));
});

Deno.test("pretrained: an HTML page served with 200 is refused even when its md5 is the one asked for", async () => {
  const page = new TextEncoder().encode("<!DOCTYPE html><html><body>Sign in to continue</body></html>");
  await using server = weightsServer({ [`/k/${FILE}`]: page });
  using cache = tempDir();
  await assert.rejects(
    ensureImagenetWeights({ ...from(server, cache), md5: md5(page) }),
    (e: unknown) => e instanceof PretrainedWeightsError && e.reason === "invalid" && /HTML/.test(e.message),
  );
  assert.deepEqual(readdirSync(cache.path), []);
});

Deno.test("pretrained: a SAS base URL puts the file before the query and never shows the SAS", async () => {
  const sig = "U2VjcmV0U2lnbmF0dXJlVmFsdWU%3D";
  const sas = `sv=2024-08-04&sr=c&sp=r&se=2030-01-01T00%3A00%3A00Z&sig=${sig}`;
  await using server = weightsServer({ [`/weights/${FILE}`]: WEIGHTS });
  using cache = tempDir();
  const events: DownloadProgress[] = [];
  const ok = await ensureImagenetWeights({
    ...fast,
    baseUrl: `${server.url}/weights?${sas}`,
    cacheDir: cache.path,
    md5: MD5,
    onProgress: (e) => events.push(e),
  });
  assert.equal(server.seen[0]?.path, `/weights/${FILE}`);
  assert.equal(server.seen[0]?.search, `?${sas}`);
  assert.equal(ok.url, `${server.url}/weights/${FILE}`);
  const leaks = (text: string) => text.includes("U2VjcmV0") || text.includes("sig=") || text.includes("sv=");
  assert.ok(!leaks(JSON.stringify({ ok, events })));

  const port = await closedPort();
  for (const baseUrl of [`${server.url}/nothing?${sas}`, `http://127.0.0.1:${port}/weights/?${sas}`]) {
    using other = tempDir();
    const e = await ensureImagenetWeights({ ...fast, baseUrl, cacheDir: other.path }).catch((e) => e);
    assert.ok(e instanceof PretrainedWeightsError);
    for (const text of [e.message, e.url, Deno.inspect(e, { depth: 10 }), String(e.stack)]) {
      assert.ok(!leaks(text), `SAS leaked: ${text.slice(0, 300)}`);
    }
  }
});

Deno.test("pretrained: weightsProgress draws one byte bar per phase", () => {
  const lines: string[] = [];
  const p = weightsProgress({ mode: "lines", write: (s) => lines.push(s), intervalMs: 0 });
  p.onProgress({ phase: "verify", bytesDone: 100, bytesTotal: 200 });
  p.onProgress({ phase: "download", bytesDone: 200, bytesTotal: 2048 });
  p.onProgress({ phase: "download", bytesDone: 2048, bytesTotal: 2048 });
  p.finish();
  assert.ok(lines.some((l) => l.startsWith(`verify ${FILE}`)));
  assert.match(
    lines.at(-1)!,
    new RegExp(`^download ${FILE.replaceAll(".", "\\.")} 2\\.0 KiB/2\\.0 KiB 100%`),
  );
});

Deno.test("pretrained: a file put in place by hand is verified and used without any request", async () => {
  await using server = weightsServer({});
  using cache = tempDir();
  Deno.writeFileSync(join(cache.path, FILE), WEIGHTS);
  const r = await ensureImagenetWeights(from(server, cache));
  assert.equal(r.status, "cached");
  assert.equal(r.md5, MD5);
  assert.equal(server.seen.length, 0);
  assert.ok(existsSync(join(cache.path, `${FILE}.md5`)), "the verification is remembered");
});

Deno.test("pretrained: cancelling rejects with the signal's reason, not a PretrainedWeightsError", async () => {
  await using server = weightsServer({ [`/k/${FILE}`]: WEIGHTS });
  using cache = tempDir();
  const controller = new AbortController();
  controller.abort(new Error("stopped by the user"));
  await assert.rejects(
    ensureImagenetWeights({ baseUrl: `${server.url}/k/`, cacheDir: cache.path, signal: controller.signal }),
    /stopped by the user/,
  );
  assert.ok(!existsSync(join(cache.path, FILE)));
});

Deno.test("pretrained: a malformed md5 or base URL is a TypeError", async () => {
  await assert.rejects(ensureImagenetWeights({ md5: "abc", cacheDir: "/nonexistent" }), TypeError);
  await assert.rejects(
    ensureImagenetWeights({ baseUrl: "file:///tmp/", cacheDir: "/nonexistent" }),
    TypeError,
  );
});
