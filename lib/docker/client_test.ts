// DockerClient against a local unix-socket HTTP server that answers like the Engine API (canned build and push
// streams), so error handling is tested without an engine; tests/docker_*_test.ts use the real one.
import assert from "node:assert/strict";
import { join } from "node:path";
import { DockerClient } from "./client.ts";
import { jsonLines } from "./_wire.ts";
import type { DockerProgressEvent } from "./format.ts";
import { DockerApiError, DockerBuildError, DockerUnavailableError } from "./errors.ts";
import { Secret } from "../secrets.ts";
import { tempDir } from "../../tests/_fixtures.ts";

/** Awaits a promise that must reject with `cls`, and returns the error. */
async function caught<T>(promise: Promise<unknown>, cls: new (...args: never[]) => T): Promise<T> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    return e;
  }
  throw new assert.AssertionError({ message: `expected a ${cls.name}, but it resolved` });
}

function lines(...docs: unknown[]): string {
  return docs.map((d) => JSON.stringify(d) + "\r\n").join("");
}

async function withFakeEngine(
  handler: (req: Request, url: URL) => Response | Promise<Response>,
  body: (docker: DockerClient, requests: { url: URL; headers: Headers; bytes: number }[]) => Promise<void>,
) {
  using dir = tempDir("cxr-fake-engine-");
  const path = join(dir.path, "docker.sock");
  const requests: { url: URL; headers: Headers; bytes: number }[] = [];
  await using _server = Deno.serve({ path, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const bytes = req.body ? (await req.arrayBuffer()).byteLength : 0;
    requests.push({ url, headers: req.headers, bytes });
    return await handler(req, url);
  });
  using docker = new DockerClient({ socket: path });
  await body(docker, requests);
}

Deno.test("build: steps reported, context streamed, a failing RUN names its step and message", async () => {
  await withFakeEngine(
    () =>
      new Response(lines(
        { stream: "Step 1/3 : FROM cxr-local/bookworm:base\n" },
        { stream: " ---> 4f00cfa60299\n" },
        { stream: "Step 2/3 : RUN false\n" },
        { stream: " ---> Running in 1234\n" },
        { errorDetail: { code: 1, message: "The command '/bin/sh -c false' returned a non-zero code: 1" } },
      )),
    async (docker, requests) => {
      const events: DockerProgressEvent[] = [];
      const context = ReadableStream.from([new Uint8Array(1024), new Uint8Array(512)]);
      const err = await caught(
        docker.build(context, {
          dockerfile: "docker/x.Dockerfile",
          tags: ["x:1"],
          onProgress: (e) => events.push(e),
        }),
        DockerBuildError,
      );
      assert.equal(err.step, "Step 2/3 : RUN false");
      assert.match(
        err.message,
        /Cannot build image "x:1": Step 2\/3 : RUN false failed: The command .* code: 1/,
      );
      assert.deepEqual(err.output.at(-1), " ---> Running in 1234");
      const steps = events.flatMap((e) => e.phase === "step" ? [e.step] : []);
      assert.deepEqual(steps, [1, 2]);
      const [build] = requests;
      assert.ok(build, "the build request reached the engine");
      assert.equal(build.bytes, 1536);
      assert.equal(build.url.pathname, "/v1.41/build");
      assert.deepEqual(build.url.searchParams.getAll("t"), ["x:1"]);
      assert.equal(build.url.searchParams.get("networkmode"), "host");
    },
  );
});

Deno.test("push: credentials travel only in X-Registry-Auth; a registry error is a DockerApiError without them", async () => {
  await withFakeEngine(
    () =>
      new Response(
        lines({ status: "Preparing", id: "abc" }, { error: "denied: requested access is refused" }),
      ),
    async (docker, requests) => {
      const password = new Secret("registry-password-123456");
      const err = await caught(
        docker.push("r.example:5000/cxr:1", {
          auth: { username: "u", password, serveraddress: "r.example:5000" },
        }),
        DockerApiError,
      );
      assert.match(err.message, /Docker could not push "r.example:5000\/cxr:1": denied/);
      assert.ok(!err.message.includes("registry-password"));
      const [push] = requests;
      assert.ok(push, "the push request reached the engine");
      const header = push.headers.get("x-registry-auth")!;
      const decoded = JSON.parse(atob(header.replace(/-/g, "+").replace(/_/g, "/")));
      assert.deepEqual(decoded, {
        username: "u",
        password: "registry-password-123456",
        serveraddress: "r.example:5000",
      });
      assert.equal(push.url.searchParams.get("tag"), "1");
      assert.equal(push.url.pathname, "/v1.41/images/r.example%3A5000%2Fcxr/push");
    },
  );
});

Deno.test("API errors carry status and the engine's message; a dead socket says how to start one", async () => {
  await withFakeEngine(
    () => Response.json({ message: "No such image: nope:1" }, { status: 404 }),
    async (docker) => {
      const err = await caught(docker.inspectImage("nope:1"), DockerApiError);
      assert.equal(err.status, 404);
      assert.equal(err.message, 'Docker could not inspect image "nope:1" (HTTP 404): No such image: nope:1');
      await docker.removeImage("nope:1"); // 404 on remove is fine
    },
  );
  const err = await caught(
    DockerClient.connect({ socket: "/nonexistent/docker.sock" }),
    DockerUnavailableError,
  );
  assert.equal(err.socket, "/nonexistent/docker.sock");
  assert.match(err.message, /No Docker engine answers on "\/nonexistent\/docker.sock"/);
});

Deno.test("a context that fails while it is sent rejects with its own error, not as a missing engine", async () => {
  await withFakeEngine(() => new Response(lines({ stream: "Step 1/1 : FROM scratch\n" })), async (docker) => {
    const context = ReadableStream.from((async function* () {
      yield new Uint8Array(512);
      throw new RangeError("context file changed while it was sent");
    })());
    await assert.rejects(
      docker.build(context, { dockerfile: "Dockerfile", tags: ["x:1"] }),
      (e: Error) => {
        assert.ok(!(e instanceof DockerUnavailableError), e.message);
        assert.match(e.message, /^(RangeError: )?context file changed while it was sent$/);
        return true;
      },
    );
  });
});

Deno.test("jsonLines: objects split across chunks and a last line without newline", async () => {
  const text = '{"a":1}\r\n{"b":\n2}'.replace("\n2", "2");
  const enc = new TextEncoder();
  const stream = ReadableStream.from([enc.encode(text.slice(0, 5)), enc.encode(text.slice(5))]);
  const got = [];
  for await (const doc of jsonLines(stream)) got.push(doc);
  assert.deepEqual(got, [{ a: 1 }, { b: 2 }]);
});
