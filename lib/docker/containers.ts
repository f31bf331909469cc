/**
 * Containers through the Engine API: run (create + start), wait for health, exec, logs, stop and remove.
 *
 * @module
 */
import type { DockerClient } from "./client.ts";
import { DockerApiError } from "./errors.ts";
import { demultiplex } from "./_wire.ts";

/** Options for {@linkcode runContainer}. */
export interface RunContainerOptions {
  /** Replaces the image's `CMD`. */
  cmd?: string[];
  /** Environment as `NAME=value` entries (values never logged here; they are not written to the image). */
  env?: Record<string, string>;
  /** `host` (works where the engine has no bridge), `none`, ... @default "host" */
  network?: string;
  /** Bind mounts `host:container[:ro]`. */
  binds?: string[];
}

/** The API path of a container (id or name). */
function containerPath(id: string): string {
  return `/containers/${encodeURIComponent(id)}`;
}

/** A started container. */
export interface ContainerHandle {
  id: string;
  name: string;
}

/** The state a health check reports. */
export type HealthStatus = "starting" | "healthy" | "unhealthy" | "none";

/**
 * Creates and starts a container of `image` (name or id).
 *
 * @throws {DockerApiError} when the engine refuses.
 * @example
 * ```ts ignore
 * const c = await runContainer(docker, "cxr-scoring:dev", { cmd: ["serve", "--model", "/model", "--port", "8181"] });
 * await removeContainer(docker, c.id);
 * ```
 */
export async function runContainer(
  docker: DockerClient,
  image: string,
  options: RunContainerOptions = {},
): Promise<ContainerHandle> {
  const created = await docker.json("POST", "/containers/create", `create a container of "${image}"`, {
    Image: image,
    Cmd: options.cmd,
    Env: Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
    HostConfig: {
      NetworkMode: options.network ?? "host",
      Binds: options.binds ?? [],
      Init: true, // an init process as PID 1 forwards SIGTERM to the service
    },
  }) as { Id: string };
  try {
    await docker.json("POST", `/containers/${created.Id}/start`, `start a container of "${image}"`);
  } catch (e) {
    await removeContainer(docker, created.Id).catch(() => {});
    throw e;
  }
  const info = await inspectContainer(docker, created.Id);
  return { id: created.Id, name: info.name };
}

/** The parts of `GET /containers/{id}/json` used here. */
export interface ContainerInfo {
  name: string;
  running: boolean;
  exitCode: number;
  health: HealthStatus;
}

/**
 * `GET /containers/{id}/json` (by id or name), reduced to {@linkcode ContainerInfo}.
 *
 * @example
 * ```ts ignore
 * assert.equal((await inspectContainer(docker, c.id)).health, "healthy");
 * ```
 */
export async function inspectContainer(docker: DockerClient, id: string): Promise<ContainerInfo> {
  const r = await docker.json("GET", `${containerPath(id)}/json`, `inspect container "${id}"`) as {
    Name?: string;
    State?: { Running?: boolean; ExitCode?: number; Health?: { Status?: string } };
  };
  return {
    name: String(r.Name ?? "").replace(/^\//, ""),
    running: Boolean(r.State?.Running),
    exitCode: r.State?.ExitCode ?? 0,
    health: (r.State?.Health?.Status as HealthStatus | undefined) ?? "none",
  };
}

/**
 * Waits until the container's HEALTHCHECK reports `healthy` or `unhealthy`, and returns that.
 *
 * @param options `timeoutMs` (default 120000); the state is polled every 500 ms.
 * @throws {DockerApiError} when the container stops or the time runs out (with the last log lines).
 * @example
 * ```ts ignore
 * assert.equal(await waitForHealthy(docker, c.id), "healthy");
 * ```
 */
export async function waitForHealthy(
  docker: DockerClient,
  id: string,
  options: { timeoutMs?: number } = {},
): Promise<HealthStatus> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const info = await inspectContainer(docker, id);
    if (info.health === "healthy" || info.health === "unhealthy") return info.health;
    if (!info.running) {
      const logs = (await containerLogs(docker, id)).split("\n").slice(-10).join("\n");
      throw new DockerApiError(
        `it exited with ${info.exitCode}:\n${logs}`,
        `keep container "${info.name}" running`,
        0,
      );
    }
    if (Date.now() > deadline) {
      throw new DockerApiError(`still "${info.health}"`, `see container "${info.name}" become healthy`, 0);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Waits for a container to exit (`POST /containers/{id}/wait`) and returns its exit code.
 *
 * @example
 * ```ts ignore
 * const c = await runContainer(docker, "cxr-training:latest", { cmd: ["gpu-smoke"] });
 * assert.equal(await waitForExit(docker, c.id), 0);
 * ```
 */
export async function waitForExit(docker: DockerClient, id: string): Promise<number> {
  const r = await docker.json("POST", `${containerPath(id)}/wait`, `wait for container "${id}"`);
  return (r as { StatusCode: number }).StatusCode;
}

/**
 * Runs a command inside a running container (`docker exec`).
 *
 * @example
 * ```ts ignore
 * assert.equal((await execInContainer(docker, c.id, ["id", "-u"])).stdout.trim(), "10001");
 * ```
 */
export async function execInContainer(
  docker: DockerClient,
  id: string,
  cmd: string[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const op = `run ${JSON.stringify(cmd)} in container "${id}"`;
  const exec = await docker.json("POST", `${containerPath(id)}/exec`, op, {
    Cmd: cmd,
    AttachStdout: true,
    AttachStderr: true,
  }) as { Id: string };
  const res = await docker.request("POST", `/exec/${exec.Id}/start`, {
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ Detach: false, Tty: false }),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (!res.ok) throw new DockerApiError(new TextDecoder().decode(bytes), op, res.status);
  const info = await docker.json("GET", `/exec/${exec.Id}/json`, op) as { ExitCode: number };
  return { exitCode: info.ExitCode, ...demultiplex(bytes) };
}

/**
 * The container's output so far: its stdout, then its stderr.
 *
 * @example
 * ```ts ignore
 * console.log(await containerLogs(docker, c.id));
 * ```
 */
export async function containerLogs(docker: DockerClient, id: string): Promise<string> {
  const res = await docker.request("GET", `${containerPath(id)}/logs?stdout=1&stderr=1`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (!res.ok) {
    throw new DockerApiError(new TextDecoder().decode(bytes), `read the logs of "${id}"`, res.status);
  }
  const { stdout, stderr } = demultiplex(bytes);
  return stdout + stderr;
}

/**
 * Stops (SIGTERM, then SIGKILL after `timeoutS`, default 10) and removes a container; a missing one is not an
 * error.
 *
 * @example
 * ```ts ignore
 * await removeContainer(docker, c.id);
 * ```
 */
export async function removeContainer(
  docker: DockerClient,
  id: string,
  options: { timeoutS?: number } = {},
): Promise<void> {
  const stop = await docker.request("POST", `${containerPath(id)}/stop?t=${options.timeoutS ?? 10}`);
  await stop.body?.cancel();
  const res = await docker.request("DELETE", `${containerPath(id)}?force=1&v=1`);
  const text = await res.text();
  if (!res.ok && res.status !== 404) throw new DockerApiError(text, `remove container "${id}"`, res.status);
}
