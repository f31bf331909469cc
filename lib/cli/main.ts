/**
 * `deno task cxr <command> [options]`: the one CLI behind every notebook step.
 *
 * Every command takes `--help`; `--json` switches stdout to one JSON document. Exit codes: 0 ok, 1 the
 * work failed, 2 the command was called wrongly.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type Command,
  type CommandContext,
  type OptionSpec,
  type OptionValues,
  UsageError,
} from "./command.ts";
import { COMMANDS } from "./commands.ts";
import { redactSecrets } from "../secrets.ts";

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  help: { type: "boolean", short: "h", description: "Show help for the command and exit." },
  json: { type: "boolean", description: "Print one JSON document on stdout (progress goes to stderr)." },
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
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${
      o.type === "string" ? ` ${o.valueName ?? "VALUE"}` : ""
    }`;
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
 * const cmd = { name: "hello", summary: "Greets.", options: { who: { type: "string" as const, description: "Name." } },
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
    const names = commands.map((c) => c.name).join(", ");
    err(
      `error: unknown command "${
        argv.filter((a) => !a.startsWith("-")).join(" ")
      }". Valid commands: ${names}`,
    );
    return 2;
  }
  const options = Object.fromEntries(
    Object.entries({ ...command.options, ...GLOBAL_OPTIONS }).map(([k, o]) => [
      k,
      // parseArgs rejects keys that are present but undefined, so add only those that are set.
      { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) },
    ]),
  );
  let values: OptionValues;
  let positionals: string[];
  try {
    const parsed = parseArgs({ args: [...rest], options, strict: true, allowPositionals: true });
    values = parsed.values as OptionValues;
    positionals = parsed.positionals;
  } catch (e) {
    err(
      `error: ${
        (e as Error).message.split("\n")[0]
      }\nRun \`deno task cxr ${command.name} --help\` for usage.`,
    );
    return 2;
  }
  if (values.help) {
    out(commandHelp(command));
    return 0;
  }
  for (const [name, o] of Object.entries(command.options)) {
    if (o.required && values[name] === undefined) {
      err(`error: --${name} is required\nRun \`deno task cxr ${command.name} --help\` for usage.`);
      return 2;
    }
  }
  const ctx: CommandContext = { json: values.json === true, positionals, out, err };
  try {
    const code = await command.run(values, ctx);
    return code ?? 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${redactSecrets(e.message)}\nRun \`deno task cxr ${command.name} --help\` for usage.`);
      return 2;
    }
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
