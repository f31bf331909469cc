// `deno task cxr image ...` as a real subprocess: usage errors (exit 2), no engine (exit 1, one clear line), and a
// scoring build from the local base, pushed to the local registry, listed from its history, all with --json.
import assert from "node:assert/strict";
import { join } from "node:path";
import { runCxr, tempDir } from "./_fixtures.ts";
import { BASE_IMAGE, DOCKER_SOCKET, REGISTRY } from "./_docker.ts";
import { DockerClient } from "../lib/docker/mod.ts";

Deno.test("image commands: usage errors exit 2, a missing engine exits 1 naming the socket", async () => {
  const kind = await runCxr(["image", "build", "gpu"]);
  assert.equal(kind.code, 2);
  assert.match(kind.stderr, /expected one image kind: training or scoring/);
  const model = await runCxr(["image", "build", "training", "--model", "x"]);
  assert.equal(model.code, 2);
  assert.match(model.stderr, /--model applies to the scoring image only/);
  const onnx = await runCxr(["image", "build", "scoring", "--onnx-cuda"]);
  assert.equal(onnx.code, 2);
  assert.match(onnx.stderr, /--onnx-cuda applies to the training image only/);
  const push = await runCxr(["image", "push", "cxr-scoring:latest"]);
  assert.equal(push.code, 2);
  assert.match(push.stderr, /--registry/);
  const none = await runCxr(["image", "build", "scoring"], {
    env: { CXR_DOCKER_HOST: "unix:///nonexistent/cxr/docker.sock" },
  });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /No Docker engine answers on "\/nonexistent\/cxr\/docker.sock"/);
});

Deno.test("image build scoring --json, image push --json to the local registry, image ls --json", async () => {
  using dir = tempDir("cxr-image-cli-");
  const env = { CXR_DOCKER_HOST: `unix://${DOCKER_SOCKET}` };
  const history = join(dir.path, "history");
  const built = await runCxr([
    ...["image", "build", "scoring", "--base", BASE_IMAGE, "--name", "cxr-scoring-cli", "--tag", "cli"],
    ...["--history", history, "--json"],
  ], { env });
  assert.equal(built.code, 0, built.stderr);
  const record = JSON.parse(built.stdout);
  assert.equal(record.image, "cxr-scoring-cli:cli");
  assert.match(record.id, /^sha256:[0-9a-f]{64}$/);
  assert.ok(record.size > 50e6 && record.layers > 5 && record.steps > 10);
  assert.match(built.stderr, /build scoring image/, "progress on stderr");

  const pushed = await runCxr(["image", "push", "cxr-scoring-cli:cli", "--registry", REGISTRY, "--json"], {
    env,
  });
  assert.equal(pushed.code, 0, pushed.stderr);
  const doc = JSON.parse(pushed.stdout);
  assert.equal(doc.image, `${REGISTRY}/cxr-scoring-cli:cli`);
  assert.match(doc.digest, /^sha256:[0-9a-f]{64}$/);

  const listed = await runCxr(["image", "ls", "cxr-scoring-cli", "--history", history, "--json"]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout).builds.map((b: { id: string }) => b.id), [record.id]);

  const docker = await DockerClient.connect({ socket: DOCKER_SOCKET });
  try {
    await docker.removeImage(doc.image);
  } finally {
    docker.close();
  }
});
