/**
 * Test helpers for the NIH archive download: a real local HTTP server (node:http on 127.0.0.1, random port)
 * that serves byte arrays with `Range` support and scripted misbehaviour (cut the connection after K bytes,
 * ignore `Range`), records every request, plus builders for small `.tar.gz` archives made from the shared
 * NIH sample PNGs (with GNU tar) or from crafted members (with a tiny tar writer of its own, for members
 * GNU tar refuses to write, such as `../` paths).
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { NIH_SAMPLE } from "./_fixtures.ts";

/** How the server answers requests for one path. */
export interface Behaviour {
  /** Destroy the socket after sending this many body bytes, for the first `cutTimes` requests. */
  cutAfter?: number;
  /** How many requests get cut. @default 1 */
  cutTimes?: number;
  /** Answer 200 with the whole body even when a `Range` is asked for. */
  ignoreRange?: boolean;
}

/** A request the server received. */
export interface RecordedRequest {
  /** Path, e.g. `/images_001.tar.gz`. */
  path: string;
  /** The `Range` header, if any. */
  range?: string | undefined;
  /** The status answered. */
  status: number;
}

/** A running archive server. */
export interface ArchiveServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Every request so far. */
  requests: RecordedRequest[];
  /** Files served, by path without the leading slash. */
  files: Map<string, Uint8Array>;
  /** Behaviours, by path without the leading slash. */
  behaviours: Map<string, Behaviour>;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Starts a server for `files` (name -> bytes). */
export async function startArchiveServer(files: Record<string, Uint8Array>): Promise<ArchiveServer> {
  const requests: RecordedRequest[] = [];
  const fileMap = new Map(Object.entries(files));
  const behaviours = new Map<string, Behaviour>();
  const cuts = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname.slice(1));
    const body = fileMap.get(path);
    const range = req.headers.range;
    const b = behaviours.get(path) ?? {};
    const record = (status: number) => requests.push({ path: `/${path}`, range, status });
    if (!body) {
      record(404);
      res.writeHead(404).end("not found");
      return;
    }
    let start = 0;
    let status = 200;
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m && !b.ignoreRange) {
      start = Number(m[1]);
      if (start >= body.length) {
        record(416);
        res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
        return;
      }
      status = 206;
    }
    record(status);
    const slice = body.subarray(start);
    res.writeHead(status, {
      "content-type": "application/octet-stream",
      "content-length": String(slice.length),
      "accept-ranges": "bytes",
      ...(status === 206 ? { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    const done = cuts.get(path) ?? 0;
    if (b.cutAfter !== undefined && done < (b.cutTimes ?? 1) && b.cutAfter < slice.length) {
      cuts.set(path, done + 1);
      res.write(slice.subarray(0, b.cutAfter), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    res.end(slice);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    files: fileMap,
    behaviours,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The names of the shared sample PNGs, sorted. */
export function samplePngs(): string[] {
  return readdirSync(join(NIH_SAMPLE, "images")).filter((n) => n.endsWith(".png")).sort();
}

/** A `.tar.gz` (GNU tar) of the given sample PNGs, members named `images/<name>.png`. */
export async function sampleArchive(names: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("tar", {
    args: ["-czf", "-", "--owner=0", "--group=0", "-C", NIH_SAMPLE, ...names.map((n) => `images/${n}`)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`tar failed: ${new TextDecoder().decode(out.stderr)}`);
  return out.stdout;
}

/** A member for {@linkcode tarBytes}. */
export interface TarMember {
  /** Path stored in the archive. */
  name: string;
  /** Body (files only). */
  data?: Uint8Array;
  /** Type flag: "0" file, "5" directory, "L" GNU long name, "x" pax header. @default "0" */
  flag?: string;
}

function header(name: string, size: number, flag: string): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, at: number) => h.set(new TextEncoder().encode(s), at);
  put(name.slice(0, 100), 0);
  put("0000644\0", 100);
  put("0000000\0", 108);
  put("0000000\0", 116);
  put(size.toString(8).padStart(11, "0") + "\0", 124);
  put("14000000000\0", 136);
  put("        ", 148);
  put(flag, 156);
  put("ustar\x0000", 257);
  const sum = h.reduce((s, b) => s + b, 0);
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return h;
}

/** Uncompressed tar bytes for crafted members, ended by two zero blocks. */
export function tarBytes(members: TarMember[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    const data = m.data ?? new Uint8Array(0);
    parts.push(
      header(m.name, data.length, m.flag ?? "0"),
      data,
      new Uint8Array((512 - (data.length % 512)) % 512),
    );
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** gzip of `bytes`. */
export function gzip(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(bytes));
}

/** md5 of `bytes` as hex. */
export function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}
