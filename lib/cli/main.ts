/**
 * `deno task cxr <command> [options]`: the one CLI behind every notebook step (the contract of a command and
 * its exit codes: `command.ts`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Command, type OptionSpec, type OptionValues, UsageError, withoutUndefined } from "./command.ts";
import { COMMANDS } from "./commands.ts";
import { redactSecrets } from "../secrets.ts";

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  help: { short: "h", description: "Show help for the command and exit." },
  json: { description: "Print one JSON document on stdout (progress goes to stderr)." },
};

/** Finds the command whose words are the longest prefix of `argv`. */
export function findCommand(
  argv: readonly string[],
  commands: readonly Command[] = COMMANDS,
): { command?: Command | undefined; rest: string[] } {
  let best: Command | undefined;
  let bestLen = 0;
  for (const c of commands) {
    const words = c.name.split(" ");
    if (words.length > bestLen && words.every((w, i) => argv[i] === w)) {
      best = c;
      bestLen = words.length;
    }
  }
  return { command: best, rest: argv.slice(bestLen) };
}

/**
 * Renders `--help` for one command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = commandHelp({ name: "x", summary: "Does x.", options: {}, run: () => 0 });
 * assert.match(text, /Usage: deno task cxr x/);
 * assert.match(text, /--json/);
 * ```
 */
export function commandHelp(c: Command): string {
  const lines = [
    `Usage: deno task cxr ${c.name} [options]${c.positionals ? " " + c.positionals : ""}`,
    "",
    c.summary,
  ];
  if (c.details) lines.push("", c.details.trim());
  lines.push("", "Options:");
  const all = { ...c.options, ...GLOBAL_OPTIONS };
  for (const [name, o] of Object.entries(all)) {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.valueName ? ` ${o.valueName}` : ""}`;
    const extra = [
      o.required ? "required" : "",
      o.multiple ? "repeatable" : "",
      o.defaultText ? `default: ${o.defaultText}` : "",
    ].filter(Boolean).join("; ");
    lines.push(`  ${flag.padEnd(30)} ${o.description}${extra ? ` (${extra})` : ""}`);
  }
  return lines.join("\n");
}

/** The command list shown by `deno task cxr --help`. */
export function mainHelp(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    "Usage: deno task cxr <command> [options]",
    "",
    "Chest X-ray workflow on Azure: NIH ChestX-ray14 data, DenseNet-121 training, scoring, deployment.",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Run `deno task cxr <command> --help` for a command's options. Exit codes: 0 ok, 1 failed, 2 usage error.",
  ].join("\n");
}

/**
 * Runs the CLI with `argv` and returns the exit code; never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const out: string[] = [];
 * const cmd = { name: "hello", summary: "Greets.", options: { who: { valueName: "WHO", description: "Name." } },
 *   run: (v: Record<string, unknown>, ctx: { out(s: string): void }) => { ctx.out(`hi ${v.who}`); } };
 * assert.equal(await runCli(["hello", "--who", "x"], { commands: [cmd], out: (s) => out.push(s), err: () => {} }), 0);
 * assert.deepEqual(out, ["hi x"]);
 * assert.equal(await runCli(["hello", "--bad"], { commands: [cmd], out: () => {}, err: () => {} }), 2);
 * ```
 */
export async function runCli(
  argv: readonly string[],
  io: { commands?: readonly Command[]; out?: (s: string) => void; err?: (s: string) => void } = {},
): Promise<number> {
  const commands = io.commands ?? COMMANDS;
  const out = io.out ?? ((s: string) => console.log(s));
  const err = io.err ?? ((s: string) => console.error(s));
  const { command, rest } = findCommand(argv, commands);
  if (!command) {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      out(mainHelp(commands));
      return argv.length === 0 ? 2 : 0;
    }
    const given = argv.filter((a) => !a.startsWith("-")).join(" ");
    err(`error: unknown command "${given}". Valid commands: ${commands.map((c) => c.name).join(", ")}`);
    return 2;
  }
  const usage = (message: string) => {
    err(`error: ${message}\nRun \`deno task cxr ${command.name} --help\` for usage.`);
    return 2;
  };
  // parseArgs rejects keys that are present but undefined, so withoutUndefined.
  const options = Object.fromEntries(
    Object.entries({ ...command.options, ...GLOBAL_OPTIONS }).map(([k, o]) => [
      k,
      withoutUndefined({
        type: o.valueName ? "string" as const : "boolean" as const,
        short: o.short,
        multiple: o.multiple,
      }),
    ]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: [...rest], options, strict: true, allowPositionals: true });
  } catch (e) {
    return usage((e as Error).message.split("\n")[0]!);
  }
  const values = parsed.values as OptionValues;
  if (values.help) {
    out(commandHelp(command));
    return 0;
  }
  const missing = Object.entries(command.options).find(([name, o]) =>
    o.required && values[name] === undefined
  );
  if (missing) return usage(`--${missing[0]} is required`);
  try {
    const ctx = { json: values.json === true, positionals: parsed.positionals, out, err };
    return await command.run(values, ctx) ?? 0;
  } catch (e) {
    if (e instanceof UsageError) return usage(redactSecrets(e.message));
    const error = e as Error;
    const name = error?.name && error.name !== "Error" ? `${error.name}: ` : "";
    err(`error: ${name}${redactSecrets(String(error?.message ?? e))}`);
    if (Deno.env.get("CXR_DEBUG") === "1" && error?.stack) err(redactSecrets(error.stack));
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
