/**
 * The contract every `deno task cxr <command>` implements.
 *
 * A command is a plain object: its name (one or more words, e.g. `"data split"`), a one-line summary, an
 * options table in the shape of `node:util`'s `parseArgs`, and a `run` function that receives the parsed
 * values. The CLI adds `--help` and `--json` to every command, turns {@linkcode UsageError} into exit
 * code 2 and any other error into exit code 1 with a one-line message (stack only with `CXR_DEBUG=1`).
 *
 * @module
 */
import { CxrError } from "../errors.ts";

/** One option of a command: what `node:util` `parseArgs` needs, plus help text. */
export interface OptionSpec {
  /** The option takes a value, shown in `--help` as this placeholder (e.g. `"FILE"`); without it, a flag. */
  valueName?: string;
  /** One-letter alias. */
  short?: string;
  /** May be given more than once (values arrive as an array). */
  multiple?: boolean;
  /** Shown in `--help`. */
  description: string;
  /** Must be given. */
  required?: boolean;
  /** Shown in `--help`; the command applies its own defaults. */
  defaultText?: string;
}

/** Parsed option values: strings, booleans, or arrays of them for `multiple` options. */
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What a command gets besides its options. */
export interface CommandContext {
  /** `--json` was given: print one JSON document to stdout and nothing else there. */
  json: boolean;
  /** Positional arguments after the command name. */
  positionals: string[];
  /** Write a line to stdout. */
  out(line: string): void;
  /** Write a line to stderr (progress, warnings). */
  err(line: string): void;
}

/** A CLI command. `run` returns the process exit code (default 0). */
export interface Command {
  /** Words after `cxr`, e.g. `"data split"`. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Extra paragraphs for `--help`. */
  details?: string;
  /** Positional arguments, for `--help` (e.g. `"[NOTEBOOK...]"`). */
  positionals?: string;
  /** Options table. */
  options: Record<string, OptionSpec>;
  /** Runs the command. */
  run(values: OptionValues, ctx: CommandContext): Promise<number | void> | number | void;
}

/**
 * A mistake in how the command was called: wrong option, missing value. The CLI exits with code 2 and points
 * at the command's `--help`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CxrError } from "../errors.ts";
 * const e = new UsageError("--out is required");
 * assert.ok(e instanceof CxrError);
 * assert.equal(e.name, "UsageError");
 * ```
 */
export class UsageError extends CxrError {}

/** `T` with each key whose value may be `undefined` made optional instead (see {@linkcode withoutUndefined}). */
export type WithoutUndefined<T> =
  & { [K in keyof T as undefined extends T[K] ? never : K]: T[K] }
  & { [K in keyof T as undefined extends T[K] ? K : never]?: Exclude<T[K], undefined> };

/**
 * The fields of `options` that have a value: a flag that was not given is left out, so the called function
 * applies its own default (its options say `field?: T`, not `T | undefined`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const given = withoutUndefined({ seed: 1, baseUrl: undefined as string | undefined });
 * assert.deepEqual(given, { seed: 1 });
 * assert.ok(!("baseUrl" in given));
 * ```
 */
export function withoutUndefined<T extends object>(options: T): WithoutUndefined<T> {
  const given = Object.entries(options).filter(([, v]) => v !== undefined);
  return Object.fromEntries(given) as WithoutUndefined<T>;
}

/**
 * Reads a string option, throwing {@linkcode UsageError} if it is missing and required.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(stringOption({ out: "a.json" }, "out"), "a.json");
 * assert.equal(stringOption({}, "out", "x.json"), "x.json");
 * assert.throws(() => stringOption({}, "out"), /--out is required/);
 * ```
 */
export function stringOption(values: OptionValues, name: string, fallback?: string): string {
  const v = values[name];
  if (typeof v === "string") return v;
  if (fallback !== undefined) return fallback;
  throw new UsageError(`--${name} is required`);
}

/**
 * Runs `parse` on what the user gave; what it throws becomes a {@linkcode UsageError} with the message
 * `describe(message)`, the original error as its `cause`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(asUsageError(() => JSON.parse("7")), 7);
 * assert.throws(() => asUsageError(() => JSON.parse("{"), (m) => `--config: ${m}`), (e: unknown) =>
 *   e instanceof UsageError && e.message.startsWith("--config: ") && e.cause instanceof SyntaxError);
 * ```
 */
export function asUsageError<T>(parse: () => T, describe: (message: string) => string = (m) => m): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError(describe((e as Error).message), { cause: e });
  }
}

/**
 * Reads a string option that may be left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(optionalString({ out: "a.json" }, "out"), "a.json");
 * assert.equal(optionalString({}, "out"), undefined);
 * ```
 */
export function optionalString(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** Bounds of a number option; without `fallback` (or `optional`: `undefined` then) the option is required. */
type Bounds = { min?: number; max?: number; fallback?: number; optional?: boolean };

function boundedNumber(
  values: OptionValues,
  name: string,
  [min, max, options]: [number, number, Bounds],
  parse: (text: string) => number,
  expected: string,
): number | undefined {
  const v = values[name];
  if (v === undefined) {
    if (options.fallback !== undefined || options.optional) return options.fallback;
    throw new UsageError(`--${name} is required`);
  }
  const n = typeof v === "string" ? parse(v) : NaN;
  if (!(Number.isFinite(n) && n >= min && n <= max)) {
    throw new UsageError(`--${name} must be ${expected}, got "${String(v)}"`);
  }
  return n;
}

/**
 * Reads an integer option within bounds, throwing {@linkcode UsageError} with the valid range; with
 * `optional: true` an option left out is `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(intOption({ n: "8" }, "n", { min: 1 }), 8);
 * assert.equal(intOption({}, "n", { fallback: 4 }), 4);
 * assert.equal(intOption({}, "n", { min: 1, optional: true }), undefined);
 * assert.throws(() => intOption({ n: "x" }, "n", { min: 1 }), /--n must be an integer/);
 * ```
 */
export function intOption(
  values: OptionValues,
  name: string,
  options: Bounds & { optional: true },
): number | undefined;
export function intOption(values: OptionValues, name: string, options?: Omit<Bounds, "optional">): number;
export function intOption(values: OptionValues, name: string, options: Bounds = {}): number | undefined {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
  const range = options.max !== undefined ? `${min}..${max}` : `>= ${min}`;
  const parse = (v: string) => /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  return boundedNumber(values, name, [min, max, options], parse, `an integer ${range}`);
}

/**
 * Reads a number option (floats allowed) within bounds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(numberOption({ f: "0.1" }, "f", { min: 0, max: 1 }), 0.1);
 * assert.throws(() => numberOption({ f: "2" }, "f", { min: 0, max: 1 }), /between 0 and 1/);
 * ```
 */
export function numberOption(
  values: OptionValues,
  name: string,
  options: Omit<Bounds, "optional"> = {},
): number {
  const { min = -Infinity, max = Infinity } = options;
  const parse = (v: string) => v.trim() !== "" ? Number(v) : NaN;
  return boundedNumber(values, name, [min, max, options], parse, `a number between ${min} and ${max}`)!;
}

/**
 * Reads an option restricted to a list of choices.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(choiceOption({ m: "seed" }, "m", ["seed", "official"]), "seed");
 * assert.throws(() => choiceOption({ m: "x" }, "m", ["seed", "official"]), /one of: seed, official/);
 * ```
 */
export function choiceOption<T extends string>(
  values: OptionValues,
  name: string,
  choices: readonly T[],
  fallback?: T,
): T {
  const v = values[name];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v === "string" && (choices as readonly string[]).includes(v)) return v as T;
  if (v === undefined) throw new UsageError(`--${name} is required (one of: ${choices.join(", ")})`);
  throw new UsageError(`--${name} must be one of: ${choices.join(", ")}; got "${String(v)}"`);
}
