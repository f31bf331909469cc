// The scoring image on a real Docker engine (scripts/services.sh starts it, the registry and the local base):
// built from the local Debian base with a tiny ONNX bundle baked in, run with --network host on a free port,
// a real NIH PNG scored through it, non-root, HEALTHCHECK healthy, no secret in any layer, pushed to the local
// registry and pulled back.
import assert from "node:assert/strict";
import { join } from "node:path";
import { NIH_SAMPLE, tempDir } from "./_fixtures.ts";
import { BASE_IMAGE, DOCKER_SOCKET, findInStream, freePort, REGISTRY, tinyBundle } from "./_docker.ts";
import {
  buildImage,
  DockerClient,
  execInContainer,
  inspectContainer,
  pushImage,
  readImageHistory,
  removeContainer,
  runContainer,
  waitForHealthy,
} from "../lib/docker/mod.ts";
import { FINDINGS } from "../lib/nih/mod.ts";

const SCORING_KEY = "docker-test-scoring-key-7f3a9c2e51";
const STORAGE_KEY = "ZG9ja2VyLXRlc3Qtc3RvcmFnZS1rZXktOTk4ODc3";

Deno.test("scoring image: local base, real NIH PNG scored via --network host, non-root, healthy, no secrets in layers, push and pull", async (t) => {
  using dir = tempDir("cxr-docker-scoring-");
  const docker = await DockerClient.connect({ socket: DOCKER_SOCKET });
  const bundle = await tinyBundle(dir.path);
  // Secrets left beside the bundle must not reach a layer (.dockerignore applies to the bundle folder too).
  await Deno.writeTextFile(
    join(bundle, ".env"),
    `CXR_SCORING_KEY=${SCORING_KEY}\nAZURE_STORAGE_KEY=${STORAGE_KEY}\n`,
  );
  let containerId = "";
  let remote = "";
  try {
    const built = await buildImage("scoring", {
      docker,
      base: BASE_IMAGE,
      model: bundle,
      name: "cxr-scoring-test",
      tag: "test",
      latest: false,
      historyDir: join(dir.path, "history"),
    });
    console.error(
      `scoring image: ${
        (built.size / 1e6).toFixed(0)
      } MB, built in ${built.seconds} s (${built.cachedSteps}/${built.steps} steps cached)`,
    );
    assert.deepEqual(
      (await readImageHistory(join(dir.path, "history"), "cxr-scoring-test")).map((r) => r.id),
      [built.id],
    );

    await t.step("image config: non-root user, port 8080, HEALTHCHECK, cxr serve", async () => {
      const info = await docker.inspectImage(built.image);
      assert.match(info.user, /^10001(:10001)?$/);
      assert.deepEqual(info.exposedPorts, ["8080/tcp"]);
      assert.ok(info.healthcheck?.join(" ").includes("healthcheck.ts"));
      assert.deepEqual(info.cmd, ["serve", "--model", "/model", "--host", "0.0.0.0", "--port", "8080"]);
    });

    const port = freePort();
    const url = `http://127.0.0.1:${port}`;
    const container = await runContainer(docker, built.image, {
      cmd: ["serve", "--model", "/model", "--host", "127.0.0.1", "--port", String(port)],
      env: {
        CXR_PORT: String(port),
        CXR_SCORING_KEY: SCORING_KEY,
        AZURE_STORAGE_ACCOUNT: "dockertest",
        AZURE_STORAGE_KEY: STORAGE_KEY,
      },
    });
    containerId = container.id;

    await t.step("HEALTHCHECK reaches healthy", async () => {
      assert.equal(await waitForHealthy(docker, containerId, { timeoutMs: 120_000 }), "healthy");
    });

    await t.step("runs as non-root: exec id -u, and PID 1's uid", async () => {
      const id = await execInContainer(docker, containerId, ["id", "-u"]);
      assert.equal(id.stdout.trim(), "10001");
      const status = await execInContainer(docker, containerId, ["cat", "/proc/1/status"]);
      assert.match(status.stdout, /^Uid:\s+10001\s/m);
      assert.equal((await inspectContainer(docker, containerId)).running, true);
    });

    await t.step("the model card is in the image and served at GET /model without the key", async () => {
      const file = await execInContainer(docker, containerId, ["cat", "/model/MODEL_CARD.md"]);
      assert.match(file.stdout, /^# Model card: docker-test-v1\n/);
      const res = await fetch(`${url}/model`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/markdown; charset=utf-8");
      assert.equal(await res.text(), file.stdout);
    });

    await t.step("scores a real NIH PNG with the key; refuses without it", async () => {
      const png = await Deno.readFile(join(NIH_SAMPLE, "images", "00000427_000.png"));
      const denied = await fetch(`${url}/score`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: png,
      });
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
      const res = await fetch(`${url}/score`, {
        method: "POST",
        headers: { "content-type": "image/png", authorization: `Bearer ${SCORING_KEY}` },
        body: png,
      });
      const doc = await res.json();
      assert.equal(res.status, 200, JSON.stringify(doc));
      assert.deepEqual(Object.keys(doc.probabilities), [...FINDINGS]);
      for (const p of Object.values(doc.probabilities) as number[]) assert.ok(p >= 0 && p <= 1);
      assert.equal(doc.model.version, "docker-test-v1");
      assert.ok(FINDINGS.includes(doc.top.class));
    });

    await removeContainer(docker, containerId);
    containerId = "";

    await t.step("no secret in the history or in any saved layer", async () => {
      const history = await docker.history(built.image);
      assert.ok(!history.some((l) => l.createdBy.includes(SCORING_KEY) || l.createdBy.includes(STORAGE_KEY)));
      const found = await findInStream(await docker.save(built.image), [
        SCORING_KEY,
        STORAGE_KEY,
        "healthcheck.ts",
      ]);
      assert.deepEqual(found, ["healthcheck.ts"], "the scan sees layer contents, and finds no key");
    });

    await t.step(
      "pushed to the local registry, local tag removed, pulled back to the same image",
      async () => {
        const pushed = await pushImage(built.image, REGISTRY, { docker });
        remote = pushed.image;
        assert.equal(remote, `${REGISTRY}/cxr-scoring-test:test`);
        assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/);
        await docker.removeImage(remote);
        await assert.rejects(docker.inspectImage(remote), /No such image/);
        await docker.pull(remote);
        assert.equal((await docker.inspectImage(remote)).id, built.id);
      },
    );
  } finally {
    if (containerId) await removeContainer(docker, containerId, { timeoutS: 2 });
    if (remote) await docker.removeImage(remote);
    docker.close();
  }
});
