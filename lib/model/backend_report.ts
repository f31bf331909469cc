/**
 * What the compute backends can do on this machine, and the one rule that picks the best of them: the
 * {@linkcode BackendReport} that `selectBackend` and `backendReport` return, the doctor prints and Jupyter
 * shows as a small table (full errors behind `--verbose` or a collapsed `<details>`).
 *
 * @module
 */
import { escapeHtml, htmlTable, JUPYTER_DISPLAY, textTable } from "../display.ts";

/**
 * The backends, best first; `auto` picks the first one that loads (a software WebGPU adapter counts after
 * wasm, see {@linkcode bestBackend}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(BACKENDS, ["tensorflow", "webgpu", "wasm", "cpu"]);
 * ```
 */
export const BACKENDS = ["tensorflow", "webgpu", "wasm", "cpu"] as const;
/** One backend name. */
export type BackendName = typeof BACKENDS[number];

/**
 * Whether a backend can be used: `yes`, `slow` (it loads, but only on a software WebGPU adapter, slower than
 * wasm) or `no`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(BACKEND_USABILITY, ["yes", "slow", "no"]);
 * ```
 */
export const BACKEND_USABILITY = ["yes", "slow", "no"] as const;
/** One of {@linkcode BACKEND_USABILITY}. */
export type BackendUsability = typeof BACKEND_USABILITY[number];

/** What happened when one backend was tried. */
export interface BackendAttempt {
  /** Backend tried. */
  name: BackendName;
  /** Whether it loaded (and could be made the active backend). */
  ok: boolean;
  /** `yes`, `slow` (software WebGPU adapter) or `no`. */
  usable: BackendUsability;
  /** One short line: what it runs on, or why not (no paths, no stack). */
  reason: string;
  /** The whole story behind `reason`: full error messages, file paths, the adapter's full name. */
  details?: string;
  /** `webgpu` only: the adapter is a software rasteriser (lavapipe/llvmpipe, SwiftShader, WARP). */
  software?: boolean;
}

/** Options of {@linkcode bestBackend}. */
export interface BestBackendOptions {
  /** Rank a software WebGPU adapter like a hardware one (before wasm). @default false */
  allowFallbackAdapter?: boolean;
}

const RANK: Record<BackendName, number> = { tensorflow: 0, webgpu: 1, wasm: 2, cpu: 4 };
const SOFTWARE_WEBGPU_RANK = 3;

/** Rank of a loaded backend, lower is better: tensorflow, hardware webgpu, wasm, software webgpu, cpu. */
function rank(a: Pick<BackendAttempt, "name" | "software">, options: BestBackendOptions): number {
  return a.name === "webgpu" && a.software && !options.allowFallbackAdapter
    ? SOFTWARE_WEBGPU_RANK
    : RANK[a.name];
}

/**
 * The one rule that picks the backend, shared by `selectBackend("auto")` and the doctor: the best that
 * loaded of tensorflow, webgpu on a hardware adapter, wasm, webgpu on a software adapter (lavapipe,
 * SwiftShader: slower than wasm), cpu.
 *
 * @param attempts the backends tried and how each went.
 * @param options whether a software adapter counts as a hardware one.
 * @returns the backend to use, or `undefined` when none loaded.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const tried = [
 *   { name: "tensorflow", ok: false },
 *   { name: "webgpu", ok: true, software: true },
 *   { name: "wasm", ok: true },
 *   { name: "cpu", ok: true },
 * ] as const;
 * assert.equal(bestBackend(tried), "wasm");
 * assert.equal(bestBackend(tried, { allowFallbackAdapter: true }), "webgpu");
 * assert.equal(bestBackend([{ name: "cpu", ok: true }, { name: "webgpu", ok: true, software: true }]), "webgpu");
 * assert.equal(bestBackend([{ name: "wasm", ok: false }]), undefined);
 * ```
 */
export function bestBackend(
  attempts: readonly Pick<BackendAttempt, "name" | "ok" | "software">[],
  options: BestBackendOptions = {},
): BackendName | undefined {
  let best: Pick<BackendAttempt, "name" | "ok" | "software"> | undefined;
  for (const a of attempts) {
    if (a.ok && (!best || rank(a, options) < rank(best, options))) best = a;
  }
  return best?.name;
}

const COLOURS: Record<BackendUsability, string> = { yes: "#1a7f37", slow: "#9a6700", no: "#cf222e" };

/**
 * The backends tried and the one in use. Prints as a small table (backend, usable, why or why not), with the
 * full errors under it when `verbose`; renders in Jupyter as an HTML table whose full errors sit in collapsed
 * `<details>`; serialises as `{ best, reason, tried }`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const r = new BackendReport([
 *   { name: "tensorflow", ok: false, usable: "no", reason: "tfjs-node: package not installed",
 *     details: "npm:@tensorflow/tfjs-node@4.22.0: Could not find package" },
 *   { name: "wasm", ok: true, usable: "yes", reason: "SIMD on" },
 * ], "wasm");
 * assert.equal(r.reason, "SIMD on; skipped tensorflow: unavailable");
 * assert.match(r.toText(), /^\* wasm +yes +SIMD on$/m);
 * assert.doesNotMatch(r.toText(), /Could not find/);
 * assert.match(r.toText({ verbose: true }), /Could not find package/);
 * assert.match(r.toHtml(), /<details><summary>tfjs-node: package not installed<\/summary>/);
 * ```
 */
export class BackendReport {
  /**
   * @param tried Every backend tried, in the order tried.
   * @param best The backend now active, picked by {@linkcode bestBackend}; `undefined` when none loaded.
   */
  constructor(readonly tried: BackendAttempt[], readonly best: BackendName | undefined) {}

  /**
   * One short line: what the backend in use runs on and which better ones were skipped, e.g.
   * `SIMD on; skipped tensorflow: unavailable, webgpu: software adapter`.
   */
  get reason(): string {
    const chosen = this.tried.find((a) => a.name === this.best);
    if (!chosen) return `no backend loaded (${this.tried.map((a) => `${a.name}: ${a.reason}`).join("; ")})`;
    const skipped = this.tried.filter((a) => BACKENDS.indexOf(a.name) < BACKENDS.indexOf(chosen.name))
      .map((a) => `${a.name}: ${a.usable === "slow" ? "software adapter" : "unavailable"}`);
    return skipped.length ? `${chosen.reason}; skipped ${skipped.join(", ")}` : chosen.reason;
  }

  /**
   * A small text table: backend, usable, why (not); `*` marks the backend in use. With `verbose`, the full
   * error of each backend follows the table.
   */
  toText(options: { verbose?: boolean } = {}): string {
    const rows = [
      ["  backend", "usable", "why (not)"],
      ...this.tried.map((a) => [`${a.name === this.best ? "*" : " "} ${a.name}`, a.usable, a.reason]),
    ];
    const lines = [textTable(rows)];
    const withDetails = this.tried.filter((a) => a.details);
    lines.push(this.best ? `* in use: ${this.best}` : "no backend could be loaded");
    if (options.verbose) {
      for (const a of withDetails) {
        lines.push("", `${a.name}:`, ...a.details!.split("\n").map((l) => `  ${l}`));
      }
    } else if (withDetails.some((a) => !a.ok)) {
      lines.push("(the full errors: --verbose)");
    }
    return lines.join("\n");
  }

  /** An HTML table; each full error sits in a collapsed `<details>` under its short reason. */
  toHtml(): string {
    const rows = this.tried.map((a) => [
      { html: a.name === this.best ? `<b>${a.name}</b> (in use)` : a.name },
      { text: a.usable, style: `color:${COLOURS[a.usable]};font-weight:bold` },
      {
        html: a.details
          ? `<details><summary>${escapeHtml(a.reason)}</summary><pre style="white-space:pre-wrap">${
            escapeHtml(a.details)
          }</pre></details>`
          : escapeHtml(a.reason),
        style: "text-align:left",
      },
    ]);
    const caption = this.best ? `backend in use: ${this.best}` : "no backend could be loaded";
    return htmlTable(["backend", "usable", "why (not)"], rows, { caption });
  }

  /** `{ best, reason, tried }`. */
  toJSON(): { best: BackendName | undefined; reason: string; tried: BackendAttempt[] } {
    return { best: this.best, reason: this.reason, tried: this.tried };
  }

  /** The table as text. */
  toString(): string {
    return this.toText();
  }

  /** The HTML table, with the text table as the plain fallback. */
  [JUPYTER_DISPLAY](): Record<string, string> {
    return { "text/html": this.toHtml(), "text/plain": this.toText() };
  }
}

/**
 * The backend `selectBackend` made active, with what was tried on the way ({@linkcode BackendReport}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const s = new BackendSelection([{ name: "cpu", ok: true, usable: "yes", reason: "pure JavaScript" }], "cpu");
 * assert.equal(`${s.name} (${s.reason})`, "cpu (pure JavaScript)");
 * ```
 */
export class BackendSelection extends BackendReport {
  /** @param name The active backend. */
  constructor(tried: BackendAttempt[], readonly name: BackendName) {
    super(tried, name);
  }
  /** `{ name, best, reason, tried }`. */
  override toJSON(): { name: BackendName; best: BackendName; reason: string; tried: BackendAttempt[] } {
    return { name: this.name, ...super.toJSON(), best: this.name };
  }
}
