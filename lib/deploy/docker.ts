/**
 * A Docker Engine API client over the engine's unix socket, in plain `fetch` (Deno's HTTP client can dial unix
 * sockets): build with streamed progress, tag, push and pull, inspect, history, save and remove images. Container
 * calls are in `docker_containers.ts`. The socket comes from `CXR_DOCKER_HOST` or `DOCKER_HOST`
 * (`unix:///path`), else `/var/run/docker.sock`.
 *
 * @module
 */
import { Secret } from "../config.ts";
import { DockerApiError, DockerBuildError, DockerUnavailableError } from "./docker_errors.ts";

/** The API version spoken (Docker 20.10 and later). */
export const DOCKER_API_VERSION = "1.41";

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
  | { phase: "layer"; id: string; status: string; current?: number; total?: number };

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
  noCache?: boolean;
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
  healthcheck?: string[];
  labels: Record<string, string>;
}

/** Options for {@linkcode DockerClient}. */
export interface DockerClientOptions {
  /** Unix socket path. @default {@linkcode dockerSocketPath}() */
  socket?: string;
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

/**
 * A Docker Engine API client on one unix socket.
 *
 * @example
 * ```ts ignore
 * const docker = await DockerClient.connect();
 * console.log((await docker.inspectImage("cxr-local/bookworm:base")).size);
 * docker.close();
 * ```
 */
export class DockerClient {
  /** The unix socket spoken to. */
  readonly socket: string;
  #client: Deno.HttpClient;

  constructor(options: DockerClientOptions = {}) {
    this.socket = options.socket ?? dockerSocketPath();
    this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socket } });
  }

  /** Opens a client and checks the engine answers, else throws {@linkcode DockerUnavailableError}. */
  static async connect(options: DockerClientOptions = {}): Promise<DockerClient> {
    const client = new DockerClient(options);
    try {
      await client.ping();
      return client;
    } catch (e) {
      client.close();
      throw e;
    }
  }

  /** `GET /version`: the engine's version and API version. */
  async ping(): Promise<{ version: string; apiVersion: string }> {
    const v = await this.json("GET", "/version", "reach the engine") as {
      Version: string;
      ApiVersion: string;
    };
    return { version: v.Version, apiVersion: v.ApiVersion };
  }

  /** One API request; throws {@linkcode DockerUnavailableError} when the socket does not answer. */
  async request(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`http://docker/v${DOCKER_API_VERSION}${path}`, {
        ...init,
        method,
        client: this.#client,
      });
    } catch (e) {
      // fetch rejects with a TypeError only when no HTTP exchange happened: nothing listens, no permission.
      if (!(e instanceof TypeError) || init.signal?.aborted) throw e;
      const cause = (e as { cause?: unknown }).cause;
      const detail = cause instanceof Error ? cause.message : e.message;
      throw new DockerUnavailableError(this.socket, detail.split("\n")[0], { cause: e });
    }
  }

  /** A request whose answer must be 2xx; returns the parsed JSON (or `null` for an empty body). */
  async json(method: string, path: string, operation: string, body?: unknown): Promise<unknown> {
    const res = await this.request(method, path, {
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new DockerApiError(operation, res.status, _errorMessage(text));
    return text ? JSON.parse(text) : null;
  }

  /**
   * `POST /build` with a tar context; streams step/output events and fails with {@linkcode DockerBuildError}
   * naming the failing step.
   */
  async build(context: ReadableStream<Uint8Array>, options: DockerBuildOptions): Promise<DockerBuildResult> {
    const name = options.tags[0] ?? "(untagged)";
    const q = new URLSearchParams({
      dockerfile: options.dockerfile,
      networkmode: options.networkMode ?? "host",
      rm: "1",
      forcerm: "1",
      buildargs: JSON.stringify(options.buildArgs ?? {}),
      labels: JSON.stringify(options.labels ?? {}),
    });
    for (const t of options.tags) q.append("t", t);
    if (options.noCache) q.set("nocache", "1");
    let contextBytes = 0;
    let lastReport = 0;
    const counted = context.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          contextBytes += chunk.length;
          if (contextBytes - lastReport >= 8 << 20) {
            lastReport = contextBytes;
            options.onProgress?.({ phase: "context", bytes: contextBytes });
          }
          ctl.enqueue(chunk);
        },
      }),
    );
    const res = await this.request("POST", `/build?${q}`, {
      headers: { "content-type": "application/x-tar" },
      body: counted,
    });
    if (!res.ok) throw new DockerBuildError(name, "", _errorMessage(await res.text()), []);
    options.onProgress?.({ phase: "context", bytes: contextBytes });
    let step = "", steps = 0, cachedSteps = 0, id = "";
    const output: string[] = [];
    for await (const msg of jsonLines(res.body!)) {
      if (typeof msg.stream === "string") {
        for (const line of msg.stream.split("\n").map((l) => l.trimEnd()).filter(Boolean)) {
          const m = /^Step (\d+)\/(\d+) : (.*)$/.exec(line);
          if (m) {
            step = line;
            steps = Number(m[2]);
            options.onProgress?.({ phase: "step", step: Number(m[1]), steps, instruction: m[3] });
          } else {
            if (/^ ---> Using cache$/.test(line)) cachedSteps++;
            output.push(line);
            if (output.length > 40) output.shift();
            options.onProgress?.({ phase: "output", line });
          }
        }
      }
      const aux = msg.aux as { ID?: string } | undefined;
      if (aux?.ID) id = aux.ID;
      if (msg.error || msg.errorDetail) {
        const detail = (msg.errorDetail as { message?: string } | undefined)?.message ?? String(msg.error);
        throw new DockerBuildError(name, step, detail, output);
      }
    }
    if (!id) id = (await this.inspectImage(name)).id;
    return { id, steps, cachedSteps, contextBytes };
  }

  /** Gives `image` the name `repository:tag`. */
  async tag(image: string, repository: string, tag: string): Promise<void> {
    const q = new URLSearchParams({ repo: repository, tag });
    await this.json(
      "POST",
      `/images/${encodeURIComponent(image)}/tag?${q}`,
      `tag "${image}" as ${repository}:${tag}`,
    );
  }

  /** Pushes `repository:tag` to its registry; returns the pushed manifest digest. */
  async push(
    image: string,
    options: { auth?: RegistryAuth; onProgress?: (e: DockerProgressEvent) => void } = {},
  ): Promise<{ digest: string }> {
    const [repo, tag] = splitImageRef(image);
    const res = await this.request(
      "POST",
      `/images/${encodeURIComponent(repo)}/push?tag=${encodeURIComponent(tag)}`,
      {
        headers: { "X-Registry-Auth": _authHeader(options.auth) },
      },
    );
    return { digest: await this.#progress(res, `push "${image}"`, options.onProgress) };
  }

  /** Pulls `repository:tag` from its registry. */
  async pull(
    image: string,
    options: { auth?: RegistryAuth; onProgress?: (e: DockerProgressEvent) => void } = {},
  ): Promise<void> {
    const [repo, tag] = splitImageRef(image);
    const q = new URLSearchParams({ fromImage: repo, tag });
    const res = await this.request("POST", `/images/create?${q}`, {
      headers: { "X-Registry-Auth": _authHeader(options.auth) },
    });
    await this.#progress(res, `pull "${image}"`, options.onProgress);
  }

  async #progress(res: Response, operation: string, onProgress?: (e: DockerProgressEvent) => void) {
    if (!res.ok) throw new DockerApiError(operation, res.status, _errorMessage(await res.text()));
    let digest = "";
    for await (const msg of jsonLines(res.body!)) {
      if (msg.error || msg.errorDetail) {
        const detail = (msg.errorDetail as { message?: string } | undefined)?.message ?? String(msg.error);
        throw new DockerApiError(operation, 0, detail);
      }
      const status = String(msg.status ?? "");
      const d = /digest: (sha256:[0-9a-f]{64})/.exec(status);
      if (d) digest = d[1];
      const detail = msg.progressDetail as { current?: number; total?: number } | undefined;
      onProgress?.({
        phase: "layer",
        id: String(msg.id ?? ""),
        status,
        current: detail?.current,
        total: detail?.total,
      });
    }
    return digest;
  }

  /** `GET /images/{name}/json`, reduced to {@linkcode ImageInfo}. */
  async inspectImage(image: string): Promise<ImageInfo> {
    const r = await this.json(
      "GET",
      `/images/${encodeURIComponent(image)}/json`,
      `inspect image "${image}"`,
    ) as _RawImage;
    const c = r.Config ?? {};
    return {
      id: r.Id,
      tags: r.RepoTags ?? [],
      digests: r.RepoDigests ?? [],
      size: r.Size,
      created: new Date(r.Created),
      user: c.User ?? "",
      env: c.Env ?? [],
      cmd: c.Cmd ?? [],
      entrypoint: c.Entrypoint ?? [],
      exposedPorts: Object.keys(c.ExposedPorts ?? {}),
      healthcheck: c.Healthcheck?.Test,
      labels: c.Labels ?? {},
    };
  }

  /** `GET /images/{name}/history`: the layers, newest first. */
  async history(image: string): Promise<ImageLayer[]> {
    const rows = await this.json(
      "GET",
      `/images/${encodeURIComponent(image)}/history`,
      `read the history of "${image}"`,
    );
    return (rows as { Id: string; Created: number; CreatedBy: string; Size: number; Tags: string[] | null }[])
      .map((r) => ({
        id: r.Id,
        created: new Date(r.Created * 1000),
        createdBy: r.CreatedBy,
        size: r.Size,
        tags: r.Tags ?? [],
      }));
  }

  /** `GET /images/{name}/get`: the image as a `docker save` tar stream (layers included). */
  async save(image: string): Promise<ReadableStream<Uint8Array>> {
    const res = await this.request("GET", `/images/${encodeURIComponent(image)}/get`);
    if (!res.ok) throw new DockerApiError(`save "${image}"`, res.status, _errorMessage(await res.text()));
    return res.body!;
  }

  /** Removes an image name (and the image when no name is left). Missing images are not an error. */
  async removeImage(image: string, options: { force?: boolean } = {}): Promise<void> {
    const res = await this.request(
      "DELETE",
      `/images/${encodeURIComponent(image)}?force=${options.force ? 1 : 0}`,
    );
    const text = await res.text();
    if (!res.ok && res.status !== 404) {
      throw new DockerApiError(`remove "${image}"`, res.status, _errorMessage(text));
    }
  }

  /** Closes the HTTP client. */
  close(): void {
    this.#client.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The fields of `GET /images/{name}/json` read here. */
interface _RawImage {
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

function _errorMessage(text: string): string {
  try {
    return JSON.parse(text).message ?? text;
  } catch {
    return text;
  }
}

function _authHeader(auth?: RegistryAuth): string {
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
