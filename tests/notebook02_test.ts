import assert from "node:assert/strict";
import { join } from "node:path";
import { NIH_SAMPLE, REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { codeCells } from "./_kernel.ts";
import { BASE_IMAGE, DOCKER_SOCKET, tinyBundle } from "./_docker.ts";
import { cellText, type Notebook, readNotebook } from "../lib/report/mod.ts";
import { readImageHistory } from "../lib/docker/mod.ts";

// Notebook 02 executed the way `deno task report` runs it, on the real engine: both images from the local base
// (tfjs-node-gpu left out), size and layers shown, the scoring container scores a real NIH PNG with the key
// from the environment, the training container's Jupyter command printed; the key never reaches the output.

const SCORING_KEY = "notebook02-scoring-key-4b8e1f0a9d";

function outputsOf(nb: Notebook, mime: string): string[] {
  return codeCells(nb).flatMap((c) => c.outputs ?? []).filter((o) => o.data?.[mime] !== undefined)
    .map((o) => cellText(o.data![mime] as string | string[]));
}

function streamText(nb: Notebook): string {
  return codeCells(nb).flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === "stream")
    .map((o) => cellText((o as { text?: string | string[] }).text ?? "")).join("");
}

Deno.test("notebook 02 builds both images from the local base, scores a real X-ray through the scoring container, prints the Jupyter command", async () => {
  using dir = tempDir("cxr-nb02-");
  const bundle = await tinyBundle(dir.path);
  const history = join(dir.path, "history");
  const r = await runCxr([
    "report",
    join(REPO_ROOT, "notebooks/02_build_image.ipynb"),
    "--out",
    join(dir.path, "reports"),
    "--json",
    ...["--param", `scoringBase=${BASE_IMAGE}`, "--param", `trainingBase=${BASE_IMAGE}`],
    ...["--param", "tfjsNodeGpu=false", "--param", `modelDir=${bundle}`, "--param", `historyDir=${history}`],
    ...["--param", "scoringName=cxr-scoring-nb02", "--param", "trainingName=cxr-training-nb02"],
    ...["--param", "tag=nb02", "--param", `sampleImage=${join(NIH_SAMPLE, "images/00000574_000.png")}`],
  ], { env: { CXR_SCORING_KEY: SCORING_KEY, CXR_DOCKER_HOST: `unix://${DOCKER_SOCKET}` } });
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout).notebooks[0];
  assert.equal(s.ok, true, JSON.stringify(s.error));
  const nb = readNotebook(s.ipynb);
  assert.ok(codeCells(nb).every((c) => !(c.outputs ?? []).some((o) => o.output_type === "error")));

  const built = [
    ...await readImageHistory(history, "cxr-scoring-nb02"),
    ...await readImageHistory(history, "cxr-training-nb02"),
  ];
  assert.deepEqual(built.map((b) => b.image), ["cxr-scoring-nb02:nb02", "cxr-training-nb02:nb02"]);

  const tables = outputsOf(nb, "text/html").filter((t) => t.includes("<th>instruction</th>"));
  assert.equal(tables.length, 2, "size and layers of both images");
  const [scoring = "", training = ""] = tables;
  assert.ok(scoring.includes("cxr-scoring-nb02:nb02") && scoring.includes("HEALTHCHECK"));
  assert.ok(training.includes("cxr-training-nb02:nb02") && training.includes("VOLUME"));

  const plain = outputsOf(nb, "text/plain").join("\n");
  assert.match(plain, /http:\/\/127\.0\.0\.1:\d+/, "the service URL");
  assert.match(plain, /probabilities/);
  assert.match(plain, /Pleural_Thickening/);
  assert.match(plain, /docker-test-v1/, "answered by the baked-in bundle");
  assert.match(
    streamText(nb),
    /docker run -d --name cxr-training --gpus all -p 10003:10003 .*-e JUPYTER_TOKEN .*cxr-training-nb02:nb02/,
  );
  assert.ok(
    !(await Deno.readTextFile(s.ipynb)).includes(SCORING_KEY),
    "the key is not in the executed notebook",
  );
});
