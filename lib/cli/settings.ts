/**
 * `deno task cxr settings`: prints the settings the workflow would use, secrets shown as `***`.
 *
 * @module
 */
import { type Command, optionalString, withoutUndefined } from "./command.ts";
import { loadSettings, settingsRows } from "../config.ts";

/** The `settings` command. */
export const settingsCommand: Command = {
  name: "settings",
  summary: "Print the settings from the environment and .env, secrets redacted.",
  details: "Reads environment variables (CXR_*, AZURE_*) over an optional .env file and validates them; " +
    "a malformed or missing setting is an error naming the variable.",
  options: {
    "env-file": { valueName: "FILE", description: "Settings file to read.", defaultText: ".env" },
  },
  run(values, ctx) {
    const settings = loadSettings(withoutUndefined({ envFile: optionalString(values, "env-file") }));
    if (ctx.json) {
      ctx.out(JSON.stringify(settings));
      return;
    }
    const rows = settingsRows(settings);
    const width = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) ctx.out(`${k.padEnd(width)}  ${v}`);
  },
};
