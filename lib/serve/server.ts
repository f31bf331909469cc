/**
 * The scoring server: `Deno.serve` around {@linkcode createScoringHandler}. The socket listens first and the
 * model loads after, so Kubernetes probes get answers at once (`/healthz` 200, `/readyz` 503 until loaded).
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Secret } from "../config.ts";
import {
  type BackendName,
  type EngineName,
  MODEL_ONNX,
  openPredictor,
  type Predictor,
  selectBackend,
} from "../model/mod.ts";
import { createScoringHandler, type ScoringHandlerOptions } from "./handler.ts";

/** Options of {@linkcode startScoringServer}. */
export interface ScoringServerOptions extends Omit<ScoringHandlerOptions, "key"> {
  /** The model bundle folder. */
  model: string;
  /** Engine: `auto` = onnx when the bundle has `model.onnx`, else tfjs. @default "auto" */
  engine?: EngineName | "auto";
  /** tfjs backend when the tfjs engine runs. @default "auto" */
  backend?: BackendName | "auto";
  /** Port; 0 = any free port. @default 8080 */
  port?: number;
  /** Address to listen on. @default "127.0.0.1" */
  hostname?: string;
  /** Key clients must send; `null` = no authentication. */
  key?: Secret | string | null;
}

/** A running scoring server. */
export interface ScoringServer {
  /** Its base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Settles when the model is loaded (rejects with the load error; the server keeps answering 503). */
  ready: Promise<void>;
  /** The engine serving, once ready. */
  readonly engine: EngineName | null;
  /** The model's version, once ready. */
  readonly modelVersion: string | null;
  /** Scoring requests open now. */
  readonly open: number;
  /**
   * Graceful stop: `/readyz` turns 503, open scoring requests finish (at most the request timeout + 1 s),
   * then the socket closes and the model is freed.
   */
  close(): Promise<void>;
}

/**
 * Starts the scoring server and begins loading the model.
 *
 * @param options model folder, engine, address, key and the handler's limits.
 * @returns once the socket listens (await `ready` for the model).
 * @throws {RangeError} for a bad port; `Deno.errors.AddrInUse` when the port is taken.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDenseNet, saveBundle, selectBackend } from "../model/mod.ts";
 * await selectBackend("cpu");
 * const dir = Deno.makeTempDirSync();
 * await saveBundle(createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 }), dir);
 * const server = await startScoringServer({ model: dir, engine: "tfjs", port: 0, key: null, log: () => {} });
 * await server.ready;
 * const res = await fetch(`${server.url}/readyz`);
 * assert.equal((await res.json()).status, "ready");
 * await server.close();
 * ```
 */
export async function startScoringServer(options: ScoringServerOptions): Promise<ScoringServer> {
  const port = options.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`startScoringServer: port must be an integer 0..65535, got ${port}`);
  }
  const hostname = options.hostname ?? "127.0.0.1";
  let predictor: Predictor | null = null;
  const engine = options.engine ?? "auto";
  const loading = (async () => {
    await new Promise((r) => setTimeout(r, 0)); // let the socket answer probes first
    const tfjs = engine === "tfjs" || (engine === "auto" && !existsSync(join(options.model, MODEL_ONNX)));
    if (tfjs) await selectBackend(options.backend ?? "auto");
    predictor = await openPredictor(options.model, { engine });
    return predictor;
  })();
  const handler = createScoringHandler(loading, options);
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    port,
    hostname,
    onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
    onError: () => new Response("internal error", { status: 500 }),
  }, handler);
  const addr = await listening.promise;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  let closed: Promise<void> | null = null;
  const ready = loading.then(() => {});
  ready.catch(() => {}); // handled by whoever awaits `ready`; the handler reports it on /readyz
  return {
    url: `http://${host}:${addr.port}`,
    ready,
    get engine() {
      return (predictor as Predictor | null)?.engine ?? null;
    },
    get open() {
      return handler.open;
    },
    get modelVersion() {
      return (predictor as Predictor | null)?.metadata.modelVersion ?? null;
    },
    close() {
      closed ??= (async () => {
        // Deno's shutdown() cuts request bodies still arriving, so let open scoring requests finish first
        // (bounded by the request timeout), then stop.
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          handler.drain(),
          new Promise((r) => timer = setTimeout(r, (options.timeoutMs ?? 30_000) + 1000)),
        ]);
        clearTimeout(timer);
        await server.shutdown();
        await loading.then((p) => p.dispose(), () => {});
      })();
      return closed;
    },
  };
}
