/**
 * `deno task cxr serve`: the scoring service on a socket, until SIGTERM/SIGINT (then it drains in-flight
 * requests and exits 0).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import {
  asUsageError,
  choiceOption,
  type Command,
  intOption,
  type OptionValues,
  stringOption,
  UsageError,
  withoutUndefined,
} from "./command.ts";
import { loadSettings } from "../config.ts";
import { BACKENDS, ENGINES } from "../model/mod.ts";
import { startScoringServer, type TlsFiles } from "../serve/mod.ts";

/** `--tls-cert` and `--tls-key` (of `serve` and `deploy`), both or neither, read from their files. */
export function tlsFiles(values: OptionValues): TlsFiles | undefined {
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  if (cert === undefined && key === undefined) return undefined;
  if (typeof cert !== "string" || typeof key !== "string") {
    throw new UsageError("--tls-cert and --tls-key go together: give both files (PEM) or neither");
  }
  const read = (flag: string, file: string) =>
    asUsageError(
      () => readFileSync(file, "utf8"),
      (m) => `Cannot read ${flag} "${file}": ${m.split("\n")[0]}`,
    );
  return { cert: read("--tls-cert", cert), key: read("--tls-key", key) };
}

/**
 * The `serve` command. Once the model is loaded it prints `Listening on http://HOST:PORT` (`https://` with
 * `--tls-cert`/`--tls-key`; with `--json`: `{"url","engine","modelVersion","auth","tls"}` instead); request
 * logs go to stderr as JSON lines.
 */
export const serveCommand: Command = {
  name: "serve",
  summary:
    "Serve a model bundle over HTTP or HTTPS: POST /score, GET /model (its card), /healthz, /readyz, /metrics, a page at /.",
  details:
    "Clients send `Authorization: Bearer <key>` on /score and /metrics; GET /model (the model card as " +
    "Markdown, ?format=json the bundle metadata) needs no key. The key is the setting " +
    "CXR_SCORING_KEY (at least 16 characters). Without a key the service refuses to start unless --no-auth " +
    "is given. The socket listens before the model loads: /healthz answers at once, /readyz is 503 until " +
    "the model is loaded, then `Listening on http://HOST:PORT` is printed. SIGTERM or SIGINT stops " +
    "accepting connections and waits for requests in flight.",
  options: {
    model: { valueName: "DIR", description: "The model bundle folder.", required: true },
    port: { valueName: "N", description: "Port (0 = any free port).", defaultText: "8080" },
    host: { valueName: "H", description: "Address to listen on.", defaultText: "127.0.0.1" },
    engine: {
      valueName: "NAME",
      description: `Model runner: auto, ${ENGINES.join(", ")} (auto: onnx when the bundle has model.onnx).`,
      defaultText: "auto",
    },
    backend: {
      valueName: "NAME",
      description: `tfjs backend for the tfjs engine: auto, ${BACKENDS.join(", ")}.`,
      defaultText: "CXR_BACKEND or auto",
    },
    "max-concurrent": { valueName: "N", description: "Images scored at once.", defaultText: "2" },
    queue: { valueName: "N", description: "Requests waiting; more get 503.", defaultText: "16" },
    "timeout-ms": { valueName: "N", description: "Per-request time limit.", defaultText: "30000" },
    "max-body-mb": { valueName: "N", description: "Largest request body in MiB.", defaultText: "20" },
    "max-inflight-mb": {
      valueName: "N",
      description:
        "Request-body MiB held at once by all scoring requests (each reserves its Content-Length, " +
        "a chunked one --max-body-mb, before reading it); past it 503 busy.",
      defaultText: "64, at least 2 x --max-body-mb",
    },
    "max-decoded-mb": {
      valueName: "N",
      description:
        "Most MiB an image may decode to (width x height x channels x bytes per sample); more is " +
        "400 bad_image.",
      defaultText: "64",
    },
    "tls-cert": {
      valueName: "FILE",
      description: "TLS certificate chain (PEM): serve HTTPS only. Needs --tls-key.",
    },
    "tls-key": { valueName: "FILE", description: "Private key of --tls-cert (PEM)." },
    "headers-timeout-ms": {
      valueName: "N",
      description: "Time to finish the TLS handshake and send the request headers.",
      defaultText: "10000",
    },
    "idle-timeout-ms": {
      valueName: "N",
      description: "Time a kept-alive connection may wait for its next request.",
      defaultText: "65000",
    },
    "max-connections": {
      valueName: "N",
      description: "Connections open at once; more are closed on arrival.",
      defaultText: "1024",
    },
    "no-auth": { description: "Serve without a key (prints a warning)." },
    "open-metrics": { description: "Let /metrics be read without the key." },
  },
  async run(values, ctx) {
    const model = stringOption(values, "model");
    const port = intOption(values, "port", { min: 0, max: 65535, fallback: 8080 });
    const hostname = stringOption(values, "host", "127.0.0.1");
    const engine = choiceOption(values, "engine", ["auto", ...ENGINES] as const, "auto");
    const settings = loadSettings();
    const backend = choiceOption(values, "backend", ["auto", ...BACKENDS] as const, settings.backend);
    const key = settings.scoringKey ?? null;
    if (key && values["no-auth"]) {
      throw new UsageError("--no-auth given but CXR_SCORING_KEY is set; unset one");
    }
    if (!key && !values["no-auth"]) {
      throw new UsageError(
        "No scoring key: set CXR_SCORING_KEY (at least 16 characters) or pass --no-auth to serve without one",
      );
    }
    const tls = tlsFiles(values);
    if (!key) ctx.err("warning: --no-auth: anyone who can reach this port can score images");
    const maxBodyBytes = intOption(values, "max-body-mb", { min: 1, max: 1024, fallback: 20 }) * 1048576;
    const maxInflightBytes = values["max-inflight-mb"] === undefined
      ? undefined
      : intOption(values, "max-inflight-mb", { min: 1, max: 65_536 }) * 1048576;
    if (maxInflightBytes !== undefined && maxInflightBytes < maxBodyBytes) {
      throw new UsageError("--max-inflight-mb must be at least --max-body-mb: one largest body must fit");
    }
    const server = await startScoringServer({
      model,
      engine,
      backend,
      port,
      hostname,
      key,
      maxConcurrent: intOption(values, "max-concurrent", { min: 1, max: 1024, fallback: 2 }),
      maxQueue: intOption(values, "queue", { min: 0, max: 100_000, fallback: 16 }),
      timeoutMs: intOption(values, "timeout-ms", { min: 1, max: 3_600_000, fallback: 30_000 }),
      maxBodyBytes,
      ...withoutUndefined({ maxInflightBytes, tls }),
      maxDecodedBytes: intOption(values, "max-decoded-mb", { min: 1, max: 4096, fallback: 64 }) * 1048576,
      openMetrics: values["open-metrics"] === true,
      headersTimeoutMs: intOption(values, "headers-timeout-ms", { min: 1, max: 600_000, fallback: 10_000 }),
      idleTimeoutMs: intOption(values, "idle-timeout-ms", { min: 1, max: 3_600_000, fallback: 65_000 }),
      maxConnections: intOption(values, "max-connections", { min: 1, max: 1_000_000, fallback: 1024 }),
    });
    const stopped = Promise.withResolvers<string>();
    const signals: Deno.Signal[] = ["SIGTERM", "SIGINT"];
    const handlers = signals.map((s) => [s, () => stopped.resolve(s)] as const);
    for (const [s, h] of handlers) Deno.addSignalListener(s, h);
    try {
      ctx.err(`Loading the model from ${model} (the socket at ${server.url} answers /healthz meanwhile)`);
      await Promise.race([server.ready, stopped.promise]);
      if (server.engine) {
        const { url, engine, modelVersion } = server;
        const ready = { url, engine, modelVersion, auth: key !== null, tls: tls !== undefined };
        ctx.out(ctx.json ? JSON.stringify(ready) : `Listening on ${url}`);
      }
      const signal = await stopped.promise;
      ctx.err(`${signal}: draining (readyz 503); waiting for ${server.open} scoring request(s) in flight`);
    } finally {
      for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
      await server.close();
    }
    ctx.err("Stopped");
    return 0;
  },
};
