/**
 * Paths and helpers shared by the tests.
 *
 * The real NIH sample lives beside the checkout in `../shared/data/nih-sample` (also in CI); tests read it
 * there and never copy it into the repository.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The repository root. */
export const REPO_ROOT: string = fileURLToPath(new URL("../", import.meta.url));

/** The folder of real NIH files (39 PNGs, label files, boxes, official split lists). */
export const NIH_SAMPLE: string = Deno.env.get("CXR_NIH_SAMPLE") ??
  fileURLToPath(new URL("../../shared/data/nih-sample/", import.meta.url));

/** A fresh temporary folder, removed when the returned object is disposed (`using dir = tempDir()`). */
export function tempDir(prefix = "cxr-test-"): { path: string; [Symbol.dispose](): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs `deno task cxr ...args` as a real subprocess and returns exit code, stdout and stderr. */
export async function runCxr(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "lib/cli/main.ts"), ...args],
    cwd: options.cwd ?? REPO_ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Debian's Chromium (scripts/setup.sh installs it for `./run test`), driven headless by playwright-core. */
export const CHROMIUM = "/usr/bin/chromium";

/** Flags for headless Chromium as root in a container, with nothing reaching out to the network by itself. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
