/**
 * The registry of CLI commands: each step folder contributes its own `Command` objects here.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { settingsCommand } from "./settings.ts";
import { dataSynthCommand } from "./data_synth.ts";

/** Every command `deno task cxr` knows, in the order `--help` lists them. */
export const COMMANDS: Command[] = [
  settingsCommand,
  dataSynthCommand,
];
