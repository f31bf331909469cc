// The training image on a real Docker engine, with its base swapped for the local debootstrap Debian image and
// @tensorflow/tfjs-node-gpu left out: neither nvidia/cuda nor libtensorflow can be downloaded here. What runs is
// the rest of the image: Jupyter with Deno's kernel as a non-root user, and the gpu-smoke command.
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "./_fixtures.ts";
import { BASE_IMAGE, DOCKER_SOCKET, freePort } from "./_docker.ts";
import {
  buildImage,
  containerLogs,
  DockerBuildError,
  DockerClient,
  execInContainer,
  removeContainer,
  runContainer,
  waitForExit,
} from "../lib/docker/mod.ts";

Deno.test("training image (base swapped for the local Debian one, tfjs-node-gpu left out): gpu-smoke and Jupyter with the Deno kernel as non-root", async (t) => {
  using dir = tempDir("cxr-docker-training-");
  const docker = await DockerClient.connect({ socket: DOCKER_SOCKET });
  const containers: string[] = [];
  try {
    const built = await buildImage("training", {
      docker,
      base: BASE_IMAGE,
      tfjsNodeGpu: false,
      name: "cxr-training-test",
      tag: "test",
      latest: false,
      historyDir: join(dir.path, "history"),
    });
    console.error(
      `training image: ${(built.size / 1e6).toFixed(0)} MB, built in ${built.seconds} s ` +
        `(${built.cachedSteps}/${built.steps} steps cached)`,
    );
    const info = await docker.inspectImage(built.image);
    assert.equal(info.user, "cxr");
    assert.ok(info.env.includes("CXR_JUPYTER_PORT=10003"));

    await t.step("gpu-smoke prints the backend it loaded and the (absent) GPUs, offline", async () => {
      const c = await runContainer(docker, built.image, { cmd: ["gpu-smoke"], network: "none" });
      containers.push(c.id);
      assert.equal(await waitForExit(docker, c.id), 0, await containerLogs(docker, c.id));
      const logs = await containerLogs(docker, c.id);
      const report = JSON.parse(logs.slice(logs.indexOf("{"), logs.lastIndexOf("}") + 1));
      assert.ok(["webgpu", "wasm", "cpu"].includes(report.backend), logs);
      assert.match(report.tried[0].reason, /tfjs-node/, "tensorflow was tried first and said why it failed");
      assert.deepEqual(report.devices, []);
      assert.ok(report.onnx.providers.includes("cpu"), logs);
      assert.match(
        report.onnx.problem,
        /libonnxruntime_providers_cuda\.so is not installed/,
        "says why --gpus cannot run",
      );
      assert.deepEqual(report.onnx.steps, []);
    });

    await t.step(
      "Jupyter answers on CXR_JUPYTER_PORT with the Deno kernel, token from the environment",
      async () => {
        const port = freePort();
        const token = "training-test-token-5d1c";
        const c = await runContainer(docker, built.image, {
          env: { CXR_JUPYTER_PORT: String(port), JUPYTER_TOKEN: token },
        });
        containers.push(c.id);
        let specs: { kernelspecs?: Record<string, unknown> } = {};
        for (let i = 0; i < 120 && !specs.kernelspecs; i++) {
          try {
            const res = await fetch(`http://127.0.0.1:${port}/api/kernelspecs`, {
              headers: { authorization: `token ${token}` },
            });
            if (res.ok) specs = await res.json();
            else await res.body?.cancel();
          } catch { /* not listening yet */ }
          if (!specs.kernelspecs) await new Promise((r) => setTimeout(r, 500));
        }
        assert.ok(specs.kernelspecs && "deno" in specs.kernelspecs, await containerLogs(docker, c.id));
        const denied = await fetch(`http://127.0.0.1:${port}/api/kernelspecs`);
        assert.equal(denied.status, 403);
        await denied.body?.cancel();
        assert.equal((await execInContainer(docker, c.id, ["id", "-u"])).stdout.trim(), "10001");
      },
    );
  } finally {
    for (const id of containers) await removeContainer(docker, id, { timeoutS: 2 });
    docker.close();
  }
});

Deno.test("training image with --onnx-cuda (NuGet cannot be reached here, so only the refusal runs): the build fails at the provider step and says what it could not fetch", async () => {
  using dir = tempDir("cxr-docker-training-onnx-");
  const docker = await DockerClient.connect({ socket: DOCKER_SOCKET });
  try {
    const failed = await buildImage("training", {
      docker,
      base: BASE_IMAGE,
      onnxCuda: true,
      name: "cxr-training-onnx-test",
      tag: "test",
      latest: false,
      historyDir: join(dir.path, "history"),
    }).then(() => undefined, (e) => e);
    assert.ok(failed instanceof DockerBuildError, String(failed));
    assert.match(failed.step, /ONNX_CUDA/);
    const output = failed.output.join("\n");
    assert.match(output, /api\.nuget\.org/, output);
    assert.match(output, /could not fetch ONNX Runtime's CUDA provider from NuGet/, output);
    await assert.rejects(
      docker.inspectImage("cxr-training-onnx-test:test"),
      /404|No such image/,
      "nothing tagged",
    );
    assert.deepEqual([...Deno.readDirSync(dir.path)], [], "no history line for a failed build");
  } finally {
    docker.close();
  }
});
