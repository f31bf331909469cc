/**
 * A Docker Engine API client over the engine's unix socket, in plain `fetch`: build, tag, push and pull,
 * inspect, history, save and remove images (container calls are in `containers.ts`).
 *
 * @module
 */
import { DockerApiError, DockerBuildError, DockerUnavailableError } from "./errors.ts";
import { dockerSocketPath, splitImageRef } from "./format.ts";
import { errorMessage, jsonLines, type RawImage, registryAuthHeader } from "./_wire.ts";
import type {
  DockerBuildOptions,
  DockerBuildResult,
  DockerProgressEvent,
  ImageInfo,
  ImageLayer,
  RegistryAuth,
} from "./format.ts";

/** The API version spoken (Docker 20.10 and later). */
export const DOCKER_API_VERSION = "1.41";

/** The API path of an image (name, `name:tag` or id). */
function imagePath(image: string): string {
  return `/images/${encodeURIComponent(image)}`;
}

/** The error a streamed answer reports (`errorDetail.message`, else `error`), or `undefined`. */
function streamError(msg: Record<string, unknown>): string | undefined {
  if (!msg.error && !msg.errorDetail) return undefined;
  return (msg.errorDetail as { message?: string } | undefined)?.message ?? String(msg.error);
}

/** Options of {@linkcode DockerClient.push} and {@linkcode DockerClient.pull}. */
export interface RegistryOptions {
  auth?: RegistryAuth | undefined;
  /** Layer progress events. */
  onProgress?: ((e: DockerProgressEvent) => void) | undefined;
}

/** Options for {@linkcode DockerClient}. */
export interface DockerClientOptions {
  /** Unix socket path. @default {@linkcode dockerSocketPath}() */
  socket?: string;
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
      // fetch rejects with a TypeError when the socket cannot be dialled (nothing listens, no permission) and
      // also when the request body fails while it is sent (then the cause is the body's own error).
      if (!(e instanceof TypeError) || init.signal?.aborted) throw e;
      const cause = (e as { cause?: unknown }).cause;
      const detail = cause instanceof Error ? cause.message : e.message;
      if (cause instanceof Error && !/error sending request|client error|os error|connect/i.test(detail)) {
        throw cause;
      }
      throw new DockerUnavailableError(detail.split("\n")[0] ?? "", this.socket, { cause: e });
    }
  }

  /** A request whose answer must be 2xx; returns the parsed JSON (or `null` for an empty body). */
  async json(method: string, path: string, operation: string, body?: unknown): Promise<unknown> {
    const res = await this.request(
      method,
      path,
      body === undefined
        ? {}
        : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) },
    );
    const text = await res.text();
    if (!res.ok) throw new DockerApiError(errorMessage(text), operation, res.status);
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
      networkmode: "host", // for RUN steps: works where the engine has no bridge
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
    if (!res.ok) throw new DockerBuildError(errorMessage(await res.text()), name, "", []);
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
            options.onProgress?.({ phase: "step", step: Number(m[1]), steps, instruction: m[3] ?? "" });
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
      const failed = streamError(msg);
      if (failed !== undefined) throw new DockerBuildError(failed, name, step, output);
    }
    if (!id) id = (await this.inspectImage(name)).id;
    return { id, steps, cachedSteps, contextBytes };
  }

  /** Gives `image` the name `repository:tag`. */
  async tag(image: string, repository: string, tag: string): Promise<void> {
    const q = new URLSearchParams({ repo: repository, tag });
    await this.json("POST", `${imagePath(image)}/tag?${q}`, `tag "${image}" as ${repository}:${tag}`);
  }

  /** Pushes `repository:tag` to its registry; returns the pushed manifest digest. */
  async push(image: string, options: RegistryOptions = {}): Promise<{ digest: string }> {
    const [repo, tag] = splitImageRef(image);
    const path = `${imagePath(repo)}/push?tag=${encodeURIComponent(tag)}`;
    return { digest: await this.#registry(path, `push "${image}"`, options) };
  }

  /** Pulls `repository:tag` from its registry. */
  async pull(image: string, options: RegistryOptions = {}): Promise<void> {
    const [repo, tag] = splitImageRef(image);
    await this.#registry(
      `/images/create?${new URLSearchParams({ fromImage: repo, tag })}`,
      `pull "${image}"`,
      options,
    );
  }

  /** A push or pull: the request with the registry credentials, then its progress; returns the digest named. */
  async #registry(path: string, operation: string, options: RegistryOptions): Promise<string> {
    const headers = { "X-Registry-Auth": registryAuthHeader(options.auth) };
    const res = await this.request("POST", path, { headers });
    if (!res.ok) throw new DockerApiError(errorMessage(await res.text()), operation, res.status);
    let digest = "";
    for await (const msg of jsonLines(res.body!)) {
      const failed = streamError(msg);
      if (failed !== undefined) throw new DockerApiError(failed, operation, 0);
      const status = String(msg.status ?? "");
      const d = /digest: (sha256:[0-9a-f]{64})/.exec(status);
      if (d?.[1]) digest = d[1];
      const detail = msg.progressDetail as { current?: number; total?: number } | undefined;
      options.onProgress?.({
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
    const r = await this.json("GET", `${imagePath(image)}/json`, `inspect image "${image}"`) as RawImage;
    const c = r.Config ?? {};
    return {
      id: r.Id,
      tags: r.RepoTags ?? [],
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
    const rows = await this.json("GET", `${imagePath(image)}/history`, `read the history of "${image}"`);
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
    const res = await this.request("GET", `${imagePath(image)}/get`);
    if (!res.ok) throw new DockerApiError(errorMessage(await res.text()), `save "${image}"`, res.status);
    return res.body!;
  }

  /** Removes an image name (and the image when no name is left). Missing images are not an error. */
  async removeImage(image: string, options: { force?: boolean } = {}): Promise<void> {
    const res = await this.request("DELETE", `${imagePath(image)}?force=${options.force ? 1 : 0}`);
    const text = await res.text();
    if (!res.ok && res.status !== 404) {
      throw new DockerApiError(errorMessage(text), `remove "${image}"`, res.status);
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
