/**
 * `runDoctor`: every check of what the workflow needs on this machine, run concurrently, each bounded by a
 * timeout, collected in a {@linkcode DoctorReport} that prints as a table and renders itself in Jupyter.
 *
 * @module
 */
import type { Settings } from "../config.ts";
import { escapeHtml, htmlTable, JUPYTER_DISPLAY } from "../display.ts";
import type { DoctorCheck } from "./check.ts";
import { type DoctorEnvironment, systemEnvironment } from "./environment.ts";
import { checkCuda, checkCudnn, checkGpu, checkOnnxCuda } from "./gpu_checks.ts";
import { checkDeno, checkDisk, checkDocker, checkJupyter, checkPort } from "./host_checks.ts";
import { checkAz, checkStorage } from "./azure_checks.ts";
import { type BackendProbe, checkBackends } from "./backend_check.ts";

/** Progress of {@linkcode runDoctor}: one event per finished check, `done` of `total`. */
export interface DoctorEvent {
  type: "check";
  check: DoctorCheck;
  done: number;
  total: number;
}

/** Options of {@linkcode runDoctor}. */
export interface DoctorOptions {
  /** The machine to ask. @default systemEnvironment() */
  env?: DoctorEnvironment;
  /** Tries the compute backends: lib/model's `backendReport`. @default not probed */
  backends?: BackendProbe;
  /** Milliseconds one check may take before it is reported as `warn` and abandoned. @default 20000 */
  timeoutMs?: number;
  /** Receives an event as each check finishes. */
  onProgress?: (event: DoctorEvent) => void;
}

const COLOURS = { ok: "#1a7f37", warn: "#9a6700", fail: "#cf222e" } as const;

/**
 * The doctor's findings: the checks in a fixed order and a count per status. Prints as a table
 * ({@linkcode DoctorReport.toTable}) followed by each check's details (the backends' small table; full
 * errors with `verbose`), serialises as `{ ok, counts, checks }`, and renders as an HTML table with coloured
 * statuses in Jupyter, details collapsed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const r = new DoctorReport([{ id: "gpu", title: "GPU", status: "warn", detail: "none", fix: "add one" }]);
 * assert.deepEqual(r.counts, { ok: 0, warn: 1, fail: 0 });
 * assert.match(r.toTable(), /warn +GPU +none/);
 * const more = { toText: (o?: { verbose?: boolean }) => o?.verbose ? "all of it" : "short", toHtml: () => "<i>more</i>" };
 * const b = new DoctorReport([{ id: "backends", title: "Backends", status: "ok", detail: "best: cpu", details: more }]);
 * assert.match(b.toTable(), /\n\nBackends:\n {2}short$/);
 * assert.match(b.toTable({ verbose: true }), /\n\nBackends:\n {2}all of it$/);
 * assert.match(b.toHtml(), /best: cpu<details><summary>more<\/summary><i>more<\/i><\/details>/);
 * assert.match(r.toHtml(), /<td style="color:#9a6700[^"]*">warn<\/td>/);
 * assert.deepEqual(Object.keys(JSON.parse(JSON.stringify(r))), ["ok", "counts", "checks"]);
 * ```
 */
export class DoctorReport {
  /** @param checks The checks, in the doctor's order. */
  constructor(readonly checks: DoctorCheck[]) {}
  /** How many checks came out ok, warn and fail. */
  get counts(): { ok: number; warn: number; fail: number } {
    const counts = { ok: 0, warn: 0, fail: 0 };
    for (const c of this.checks) counts[c.status]++;
    return counts;
  }
  /** No check failed (warnings allowed). */
  get ok(): boolean {
    return this.counts.fail === 0;
  }
  /** The checks that are not ok. */
  get problems(): DoctorCheck[] {
    return this.checks.filter((c) => c.status !== "ok");
  }
  /** `{ ok, counts, checks }`, what `doctor --json` prints. */
  toJSON(): { ok: boolean; counts: { ok: number; warn: number; fail: number }; checks: DoctorCheck[] } {
    return { ok: this.ok, counts: this.counts, checks: this.checks };
  }
  /**
   * A plain-text table: status, title, detail; then each check's details (full errors with `verbose`), then
   * the fixes of the checks that are not ok.
   */
  toTable(options: { verbose?: boolean } = {}): string {
    const width = Math.max(...this.checks.map((c) => c.title.length));
    const lines = this.checks.map((c) => `${c.status.padEnd(4)}  ${c.title.padEnd(width)}  ${c.detail}`);
    const fixes = this.problems.filter((c) => c.fix).map((c) => `- ${c.title}: ${c.fix}`);
    const { ok, warn, fail } = this.counts;
    lines.push("", `${ok} ok, ${warn} warn, ${fail} fail`);
    for (const c of this.checks.filter((c) => c.details)) {
      const text = c.details!.toText({ verbose: options.verbose });
      lines.push("", `${c.title}:`, ...text.split("\n").map((l) => (l ? `  ${l}` : l)));
    }
    if (fixes.length) lines.push("", "What to do:", ...fixes);
    return lines.join("\n");
  }
  /**
   * What to do about each check that is not ok, as a Markdown list (renders as such in Jupyter).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * const r = new DoctorReport([{ id: "az", title: "Azure CLI", status: "warn", detail: "az not found", fix: "Install it." }]);
   * assert.equal(r.advice().text, "- **Azure CLI** (warn): az not found. Install it.");
   * ```
   */
  advice(): { text: string; [display: symbol]: () => Record<string, string> } {
    const text = this.problems.length === 0 ? "Every check is ok: nothing to do." : this.problems
      .map((c) => `- **${c.title}** (${c.status}): ${c.detail}.${c.fix ? ` ${c.fix}` : ""}`).join("\n");
    return { text, [JUPYTER_DISPLAY]: () => ({ "text/markdown": text, "text/plain": text }) };
  }
  /** The table as text. */
  toString(): string {
    return this.toTable();
  }
  /** An HTML table with coloured statuses, each check's details collapsed under its finding. */
  toHtml(): string {
    const rows = this.checks.map((c) => [
      { text: c.status, style: `color:${COLOURS[c.status]};font-weight:bold` },
      c.title,
      {
        html: escapeHtml(c.detail) +
          (c.details ? `<details><summary>more</summary>${c.details.toHtml()}</details>` : ""),
      },
      c.fix ?? "",
    ]);
    const { ok, warn, fail } = this.counts;
    return htmlTable(["status", "check", "found", "what to do"], rows, {
      caption: `doctor: ${ok} ok, ${warn} warn, ${fail} fail`,
    });
  }
  [JUPYTER_DISPLAY](): Record<string, string> {
    return { "text/html": this.toHtml(), "text/plain": this.toTable() };
  }
}

function withTimeout(
  id: string,
  title: string,
  work: () => Promise<DoctorCheck>,
  ms: number,
): Promise<DoctorCheck> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<DoctorCheck>((done) => {
    timer = setTimeout(() =>
      done({
        id,
        title,
        status: "warn",
        detail: `no answer within ${ms / 1000} s; the check was abandoned`,
        fix: "Run the check's command by hand to see where it hangs.",
      }), ms);
  });
  const checked = work().catch((e): DoctorCheck => ({
    id,
    title,
    status: "fail",
    detail: `the check itself failed: ${String((e as Error)?.message ?? e).split("\n")[0]}`,
  }));
  return Promise.race([checked, late]).finally(() => clearTimeout(timer));
}

/**
 * Checks GPU and driver, CUDA, cuDNN, ONNX Runtime's cuda provider (CUDA 12, cuDNN 9), free disk for
 * `settings.dataDir`, the Docker engine, Jupyter and Deno's kernel, both Jupyter ports, the compute backends,
 * Deno, the Azure CLI and blob storage, all at once, each within `timeoutMs`. It never throws for a missing
 * tool: that is a `warn` or `fail` row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * const report = await runDoctor(loadSettings({ env: {}, envFile: false }), { timeoutMs: 20000 });
 * assert.ok(report.checks.some((c) => c.id === "gpu"));
 * ```
 */
export async function runDoctor(settings: Settings, options: DoctorOptions = {}): Promise<DoctorReport> {
  const env = options.env ?? systemEnvironment();
  const timeoutMs = options.timeoutMs ?? 20_000;
  if (!(timeoutMs > 0)) throw new RangeError(`runDoctor: timeoutMs must be > 0, got ${timeoutMs}`);
  const plan: [string, string, () => Promise<DoctorCheck>][] = [
    ["gpu", "GPU and NVIDIA driver", () => checkGpu(env)],
    ["cuda", "CUDA toolkit", () => checkCuda(env)],
    ["cudnn", "cuDNN", () => checkCudnn(env)],
    ["onnx-cuda", "ONNX Runtime cuda provider", () => checkOnnxCuda(env)],
    ["backends", "Compute backends (tfjs)", () => checkBackends(options.backends)],
    ["disk", "Free disk for the NIH data", () => checkDisk(env, settings.dataDir)],
    ["docker", "Docker engine", () => checkDocker(env)],
    ["jupyter", "Jupyter and the Deno kernel", () => checkJupyter(env)],
    ["port-jupyter", "Jupyter", () =>
      checkPort(env, settings.jupyterPort, {
        id: "port-jupyter",
        title: "Jupyter",
        variable: "CXR_JUPYTER_PORT",
      })],
    ["port-training-jupyter", "Training Jupyter", () =>
      checkPort(env, settings.trainingJupyterPort, {
        id: "port-training-jupyter",
        title: "Training Jupyter",
        variable: "CXR_TRAINING_JUPYTER_PORT",
      })],
    ["deno", "Deno", () => checkDeno(env)],
    ["az", "Azure CLI and login", () => checkAz(env)],
    ["storage", "Blob storage", () => checkStorage(env, settings.storage)],
  ];
  let done = 0;
  const checks = await Promise.all(
    plan.map(([id, title, work]) =>
      withTimeout(id, title, work, timeoutMs).then((check) => {
        options.onProgress?.({ type: "check", check, done: ++done, total: plan.length });
        return check;
      })
    ),
  );
  return new DoctorReport(checks);
}
