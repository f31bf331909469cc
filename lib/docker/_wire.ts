/**
 * The Docker Engine API's raw wire: streamed JSON answers, image inspection fields, error bodies, the
 * `X-Registry-Auth` header and the multiplexed stdout/stderr of logs and exec.
 *
 * @module
 */
import { base64 } from "../display.ts";
import type { RegistryAuth } from "./format.ts";

/**
 * Parses a response body of newline-separated JSON objects (what build, push and pull answer), as they arrive.
 *
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
  return base64(new TextEncoder().encode(JSON.stringify(doc))).replace(/\+/g, "-").replace(/\//g, "_");
}

/**
 * Splits Docker's multiplexed stdout/stderr stream (8-byte frame headers) into the two texts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const frame = (kind: number, text: string) => {
 *   const body = new TextEncoder().encode(text);
 *   const out = new Uint8Array(8 + body.length);
 *   out[0] = kind;
 *   new DataView(out.buffer).setUint32(4, body.length);
 *   out.set(body, 8);
 *   return out;
 * };
 * const both = new Uint8Array([...frame(1, "out\n"), ...frame(2, "err\n")]);
 * assert.deepEqual(demultiplex(both), { stdout: "out\n", stderr: "err\n" });
 * ```
 */
export function demultiplex(bytes: Uint8Array): { stdout: string; stderr: string } {
  const stdout: Uint8Array[] = [], stderr: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + 8 <= bytes.length) {
    const size = view.getUint32(at + 4);
    (bytes[at] === 2 ? stderr : stdout).push(bytes.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  const dec = (chunks: Uint8Array[]) => chunks.map((c) => new TextDecoder().decode(c)).join("");
  return { stdout: dec(stdout), stderr: dec(stderr) };
}
