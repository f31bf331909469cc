/**
 * The Docker Engine API's formats as callers see them: the socket address, image references, registry
 * credentials, build options and progress events, image inspection and history (the raw wire is `_wire.ts`).
 *
 * @module
 */
import type { Secret } from "../secrets.ts";

/**
 * The engine's unix socket path from `CXR_DOCKER_HOST` or `DOCKER_HOST` (`unix:///path`), else
 * `/var/run/docker.sock`.
 *
 * @param env environment variables. @default `Deno.env.toObject()`
 * @throws {TypeError} when the variable is not a `unix://` address.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(dockerSocketPath({ CXR_DOCKER_HOST: "unix:///run/cxr-docker/docker.sock" }), "/run/cxr-docker/docker.sock");
 * assert.equal(dockerSocketPath({}), "/var/run/docker.sock");
 * assert.throws(() => dockerSocketPath({ DOCKER_HOST: "tcp://1.2.3.4:2375" }), /only unix:\/\//);
 * ```
 */
export function dockerSocketPath(env: Record<string, string | undefined> = Deno.env.toObject()): string {
  const host = env.CXR_DOCKER_HOST || env.DOCKER_HOST;
  if (!host) return "/var/run/docker.sock";
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  if (host.startsWith("/")) return host;
  throw new TypeError(
    `Docker host "${host}" is not supported: only unix:// sockets (CXR_DOCKER_HOST, DOCKER_HOST)`,
  );
}

/** Credentials for a registry (`X-Registry-Auth`); the password is only ever sent, never printed. */
export interface RegistryAuth {
  username: string;
  password: Secret | string;
  /** e.g. `myregistry.azurecr.io`. */
  serveraddress?: string;
}

/** What a build or push reports while it runs. */
export type DockerProgressEvent =
  | { phase: "context"; bytes: number }
  | { phase: "step"; step: number; steps: number; instruction: string }
  | { phase: "output"; line: string }
  | { phase: "layer"; id: string; status: string; current?: number | undefined; total?: number | undefined };

/** Options for {@linkcode DockerClient.build}. */
export interface DockerBuildOptions {
  /** Dockerfile path inside the context. */
  dockerfile: string;
  /** Tags to give the image (`name:tag`); the first names it in errors. */
  tags: string[];
  /** `ARG` values. Never pass secrets: build arguments are visible in the image history. */
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  /** Ignore the layer cache. @default false */
  noCache?: boolean | undefined;
  /** Receives context upload, step and output events. */
  onProgress?: (event: DockerProgressEvent) => void;
}

/** A finished build. */
export interface DockerBuildResult {
  /** `sha256:...` image id. */
  id: string;
  /** Steps the Dockerfile had. */
  steps: number;
  /** Steps answered from the layer cache. */
  cachedSteps: number;
  /** Context bytes sent. */
  contextBytes: number;
}

/** One layer of `GET /images/{name}/history`. */
export interface ImageLayer {
  id: string;
  created: Date;
  createdBy: string;
  size: number;
  tags: string[];
}

/** The parts of `GET /images/{name}/json` this project uses. */
export interface ImageInfo {
  id: string;
  tags: string[];
  size: number;
  created: Date;
  user: string;
  env: string[];
  cmd: string[];
  entrypoint: string[];
  exposedPorts: string[];
  healthcheck?: string[] | undefined;
  labels: Record<string, string>;
}

/**
 * Splits an image reference into `[repository, tag]` (`latest` when none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(splitImageRef("127.0.0.1:5000/cxr:1.0"), ["127.0.0.1:5000/cxr", "1.0"]);
 * assert.deepEqual(splitImageRef("127.0.0.1:5000/cxr"), ["127.0.0.1:5000/cxr", "latest"]);
 * ```
 */
export function splitImageRef(image: string): [string, string] {
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  return colon > slash ? [image.slice(0, colon), image.slice(colon + 1)] : [image, "latest"];
}
