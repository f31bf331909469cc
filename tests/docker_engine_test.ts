// DockerClient against the real engine with a three-line Dockerfile: a failing RUN is reported as a
// DockerBuildError naming its step, with the output before it; the context arrives as the tar we wrote.
import assert from "node:assert/strict";
import { BASE_IMAGE, DOCKER_SOCKET } from "./_docker.ts";
import { DockerBuildError, DockerClient } from "../lib/docker/mod.ts";
import type { DockerProgressEvent } from "../lib/docker/mod.ts";
import { writeTar } from "../lib/docker/_tar_writer.ts";

function context(dockerfile: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(dockerfile);
  return ReadableStream.from(writeTar([{
    type: "file",
    name: "Dockerfile",
    mode: 0o644,
    size: bytes.length,
    body: async function* () {
      yield bytes;
    },
  }]));
}

Deno.test("real engine: a failing RUN step is a DockerBuildError naming the step, with the output before it", async () => {
  using docker = await DockerClient.connect({ socket: DOCKER_SOCKET });
  const events: DockerProgressEvent[] = [];
  let error: unknown;
  try {
    await docker.build(
      context(
        `FROM ${BASE_IMAGE}\nRUN echo "step two ran" && echo $((6 * 7))\nRUN echo "about to fail" && exit 3\n`,
      ),
      {
        dockerfile: "Dockerfile",
        tags: ["cxr-failing-build:test"],
        noCache: true,
        onProgress: (e) => events.push(e),
      },
    );
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof DockerBuildError, String(error));
  assert.equal(error.step, 'Step 3/3 : RUN echo "about to fail" && exit 3');
  assert.match(
    error.message,
    /Cannot build image "cxr-failing-build:test": Step 3\/3 : RUN .* failed: .*non-zero code: 3/,
  );
  assert.ok(error.output.includes("about to fail"), error.output.join("\n"));
  assert.ok(
    events.some((e) => e.phase === "output" && e.line === "42"),
    "step 2's output streamed as it ran",
  );
  assert.deepEqual(events.filter((e) => e.phase === "step").map((e) => e.phase === "step" && e.step), [
    1,
    2,
    3,
  ]);
});
