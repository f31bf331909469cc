// A DoctorEnvironment with fixed answers, for this folder's tests.
import type { DiskSpace, DoctorEnvironment, HttpAnswer, RunResult } from "./environment.ts";

/** Fixed answers: programs by `cmd args...` (a missing key means "not found"), files, disk, HTTP, ports. */
export interface FakeMachine {
  programs?: Record<string, Partial<RunResult> | (() => Promise<RunResult>)>;
  files?: Record<string, string>;
  dirs?: string[];
  disk?: DiskSpace;
  http?: Record<string, HttpAnswer>;
  portsInUse?: number[];
  vars?: Record<string, string>;
}

/** The fake machine, and a log of the programs run. */
export function fakeEnvironment(m: FakeMachine): DoctorEnvironment & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run(cmd, args) {
      const key = [cmd, ...args].join(" ");
      calls.push(key);
      const p = m.programs?.[key] ?? m.programs?.[cmd];
      if (typeof p === "function") return p();
      if (!p) return Promise.resolve({ code: 127, stdout: "", stderr: `${cmd}: not found` });
      return Promise.resolve({ code: 0, stdout: "", stderr: "", ...p });
    },
    readTextFile: (path) => Promise.resolve(m.files?.[path]),
    exists: (path) => Promise.resolve(path in (m.files ?? {}) || (m.dirs ?? []).includes(path)),
    statfs: (path) => Promise.resolve((m.dirs ?? []).includes(path) ? m.disk : undefined),
    env: (name) => m.vars?.[name],
    get(url, options) {
      const key = options?.unixSocket ? `unix:${options.unixSocket}` : url;
      const a = m.http?.[key];
      return a ? Promise.resolve(a) : Promise.reject(new Error(`connection refused (${key})`));
    },
    portFree: (port) => Promise.resolve(!(m.portsInUse ?? []).includes(port)),
    denoVersion: "2.9.6",
  };
}

/** Reads a file of ./testdata. */
export function testdata(name: string): string {
  return Deno.readTextFileSync(new URL(`./testdata/${name}`, import.meta.url));
}
