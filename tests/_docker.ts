/**
 * Shared by the Docker tests: the engine, registry and base image scripts/services.sh starts (CXR_DOCKER_HOST,
 * CXR_REGISTRY, CXR_BASE_IMAGE), a free port, a tiny model bundle with model.onnx, and a byte scan of streams.
 *
 * @module
 */
import { join } from "node:path";
import { createDenseNet, saveBundle, selectBackend, writeBundleOnnx } from "../lib/model/mod.ts";

/** The local base image built by scripts/services.sh (no base image can be pulled here). */
export const BASE_IMAGE: string = Deno.env.get("CXR_BASE_IMAGE") ?? "cxr-local/bookworm:base";
/** The local registry scripts/services.sh starts. */
export const REGISTRY: string = Deno.env.get("CXR_REGISTRY") ?? "127.0.0.1:5000";
/** The engine's socket when the environment names none (scripts/services.sh's own dockerd). */
export const DOCKER_SOCKET: string = (Deno.env.get("CXR_DOCKER_HOST") ?? Deno.env.get("DOCKER_HOST") ??
  "unix:///run/cxr-docker/docker.sock").replace(/^unix:\/\//, "");

/** A TCP port nothing listens on right now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Writes a tiny DenseNet bundle (32x32 input) with its model.onnx into `<dir>/bundle` and returns the path. */
export async function tinyBundle(dir: string): Promise<string> {
  await selectBackend("cpu");
  const path = join(dir, "bundle");
  const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 32 });
  await saveBundle(model, path, { modelVersion: "docker-test-v1", architecture: { name: "densenet-tiny" } });
  await writeBundleOnnx(path, { model });
  model.dispose();
  return path;
}

/** Which of `needles` occur anywhere in the stream (matches across chunk borders included). */
export async function findInStream(stream: ReadableStream<Uint8Array>, needles: string[]): Promise<string[]> {
  const { Buffer } = await import("node:buffer");
  const wanted = needles.map((n) => Buffer.from(n));
  const keep = Math.max(...wanted.map((w) => w.length)) - 1;
  const found = new Set<string>();
  let tail = Buffer.alloc(0);
  for await (const chunk of stream) {
    const buf = Buffer.concat([tail, Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)]);
    for (const needle of needles) if (buf.includes(needle)) found.add(needle);
    tail = buf.subarray(Math.max(0, buf.length - keep));
  }
  return [...found];
}
