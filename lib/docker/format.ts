/**
 * The Docker Engine API's wire formats as this project reads and writes them: the socket address, image
 * references, build options and progress events, image inspection, the newline-delimited JSON of
 * build/push/pull answers, error bodies and `X-Registry-Auth`.
 *
 * @module
 */
import type { Secret } from "../secrets.ts";

/**
 * The engine's unix socket path from the environment.
 *
 * @param env environment variables. @default `Deno.env.toObject()`
 * @returns the socket path.
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
  /** Image labels. */
  labels?: Record<string, string>;
  /** Network for `RUN` steps (`host` where the engine has no bridge). @default "host" */
  networkMode?: string;
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
  digests: string[];
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
 * Splits an image reference into repository and tag (`latest` when none).
 *
 * @param image e.g. `127.0.0.1:5000/cxr-scoring:0.1.0-abc1234-20261126`.
 * @returns `[repository, tag]`.
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

/**
 * Parses a stream of newline-separated JSON objects (what build, push and pull answer).
 *
 * @param body the response body.
 * @returns the objects, as they arrive.
 * @throws {SyntaxError} for a line that is not JSON.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const body = ReadableStream.from([new TextEncoder().encode('{"stream":"Step 1/2"}\r\n{"aux":{"ID":"sha256:1"}}\n')]);
 * const docs = [];
 * for await (const doc of jsonLines(body)) docs.push(doc);
 * assert.deepEqual(docs, [{ stream: "Step 1/2" }, { aux: { ID: "sha256:1" } }]);
 * ```
 */
export async function* jsonLines(body: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  let rest = "";
  for await (const text of body.pipeThrough(new TextDecoderStream())) {
    rest += text;
    let nl: number;
    while ((nl = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (rest.trim()) yield JSON.parse(rest);
}

/** The fields of `GET /images/{name}/json` read here (parsed into {@linkcode ImageInfo}). */
export interface RawImage {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Size: number;
  Created: string;
  Config?: {
    User?: string;
    Env?: string[] | null;
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
    ExposedPorts?: Record<string, unknown> | null;
    Healthcheck?: { Test?: string[] };
    Labels?: Record<string, string> | null;
  };
}

/**
 * The message of an Engine API error body (`{"message": "..."}`), or the body itself when it is not JSON.
 *
 * @param text the response body.
 * @returns the message.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(errorMessage('{"message":"No such image: x"}'), "No such image: x");
 * assert.equal(errorMessage("plain text"), "plain text");
 * ```
 */
export function errorMessage(text: string): string {
  try {
    return JSON.parse(text).message ?? text;
  } catch {
    return text;
  }
}

/**
 * The `X-Registry-Auth` header value: base64url of the credentials' JSON (`{}` without credentials, which the
 * engine still requires on push). Only ever sent; never printed.
 *
 * @param auth user, password, registry.
 * @returns the header value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(registryAuthHeader(), "e30=");
 * const doc = JSON.parse(atob(registryAuthHeader({ username: "u", password: "p" })));
 * assert.deepEqual(doc, { username: "u", password: "p" });
 * ```
 */
export function registryAuthHeader(auth?: RegistryAuth): string {
  const doc = auth
    ? {
      username: auth.username,
      password: typeof auth.password === "string" ? auth.password : auth.password.reveal(),
      serveraddress: auth.serveraddress,
    }
    : {};
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_");
}
