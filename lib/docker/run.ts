/**
 * Running the project's images: the scoring image as a local service (host network, key in the environment,
 * healthy before it is handed out) and the command line that starts the training image's Jupyter server.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { Secret } from "../secrets.ts";
import { DockerClient } from "./client.ts";
import { containerLogs, removeContainer, runContainer, waitForHealthy } from "./containers.ts";
import { DockerApiError } from "./errors.ts";

/** Options for {@linkcode startScoringContainer}. */
export interface StartScoringContainerOptions {
  /** Engine to use. @default `DockerClient.connect()` (closed by `stop()`) */
  docker?: DockerClient;
  /** Port on the host network; 0 picks a free one. @default 0 */
  port?: number;
  /** The service's key (`CXR_SCORING_KEY` in the container). @default a random one, returned as `key` */
  key?: Secret | string | null;
  /** Model bundle folder on the host, mounted read-only at /model. @default the one baked into the image */
  model?: string;
  /** How long to wait for the HEALTHCHECK. @default 120000 */
  timeoutMs?: number;
}

/** A scoring container that is up and healthy. */
export interface ScoringContainer {
  id: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** The key clients send (`Authorization: Bearer`). */
  key: Secret;
  /** The container's output so far. */
  logs(): Promise<string>;
  /** Stops and removes the container. */
  stop(): Promise<void>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Starts the scoring image with `--network host` on `port`, the key in its environment, and waits until its
 * HEALTHCHECK says healthy; call `stop()` on the result when done.
 *
 * @throws {DockerApiError} when the container exits or never becomes healthy (with its last log lines).
 * @example
 * ```ts ignore
 * const scoring = await startScoringContainer("cxr-scoring:latest", { port: 8080 });
 * const answer = await scoreRemote(scoring.url, png, { key: scoring.key });
 * await scoring.stop();
 * ```
 */
export async function startScoringContainer(
  image: string,
  options: StartScoringContainerOptions = {},
): Promise<ScoringContainer> {
  const port = options.port || freePort();
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`startScoringContainer: port must be 0..65535, got ${options.port}`);
  }
  const key = options.key instanceof Secret
    ? options.key
    : new Secret(options.key || randomBytes(24).toString("hex"));
  const docker = options.docker ?? await DockerClient.connect();
  const own = !options.docker;
  let id = "";
  try {
    const container = await runContainer(docker, image, {
      cmd: ["serve", "--model", "/model", "--host", "127.0.0.1", "--port", String(port)],
      env: { CXR_PORT: String(port), CXR_SCORING_KEY: key.reveal() },
      binds: options.model ? [`${await Deno.realPath(options.model)}:/model:ro`] : [],
    });
    id = container.id;
    const health = await waitForHealthy(docker, id, { timeoutMs: options.timeoutMs ?? 120_000 });
    if (health !== "healthy") {
      const logs = (await containerLogs(docker, id)).split("\n").slice(-10).join("\n");
      throw new DockerApiError(
        `it is ${health}:\n${logs}`,
        `start a healthy scoring container of "${image}"`,
        0,
      );
    }
  } catch (e) {
    if (id) await removeContainer(docker, id, { timeoutS: 1 }).catch(() => {});
    if (own) docker.close();
    throw e;
  }
  return {
    id,
    url: `http://127.0.0.1:${port}`,
    key,
    logs: () => containerLogs(docker, id),
    async stop() {
      try {
        await removeContainer(docker, id);
      } finally {
        if (own) docker.close();
      }
    },
  };
}

/** Options for {@linkcode trainingJupyterCommand}. */
export interface TrainingJupyterOptions {
  /** Jupyter's port. @default 10003 */
  port?: number;
  /** Host folder mounted at /data (the NIH data, the preprocessed cache). @default "/data" */
  dataDir?: string;
  /** Host folder mounted at /output (runs, bundles, reports). @default "/output" */
  outputDir?: string;
  /** Pass the GPUs through (`--gpus all`, needs the NVIDIA container toolkit). @default true */
  gpus?: boolean;
}

/**
 * The `docker run` line that starts the training image's Jupyter server on a GPU VM. The token is passed by
 * name (`-e JUPYTER_TOKEN`), so it comes from the shell's environment and never appears in the command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(
 *   trainingJupyterCommand("cxr-training:0.1.0-abc1234-20261126", { dataDir: "/mnt/nih", outputDir: "/mnt/out" }),
 *   "docker run -d --name cxr-training --gpus all -p 10003:10003 -e CXR_JUPYTER_PORT=10003 -e JUPYTER_TOKEN " +
 *     "-v /mnt/nih:/data -v /mnt/out:/output cxr-training:0.1.0-abc1234-20261126",
 * );
 * ```
 */
export function trainingJupyterCommand(image: string, options: TrainingJupyterOptions = {}): string {
  const port = options.port ?? 10003;
  const quote = (s: string) => /^[A-Za-z0-9_./:@=-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
  return [
    "docker run -d --name cxr-training",
    options.gpus === false ? "" : "--gpus all",
    `-p ${port}:${port} -e CXR_JUPYTER_PORT=${port} -e JUPYTER_TOKEN`,
    `-v ${quote(`${options.dataDir ?? "/data"}:/data`)}`,
    `-v ${quote(`${options.outputDir ?? "/output"}:/output`)}`,
    quote(image),
  ].filter(Boolean).join(" ");
}
