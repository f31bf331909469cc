/**
 * Writes the settings file (`.env`): merged with what is there, atomically, readable by its owner only.
 *
 * @module
 */
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { loadSettings, parseDotenv, type Settings } from "../config.ts";
import { VmError } from "./errors.ts";

/** Options of {@linkcode writeEnvFile}. */
export interface WriteEnvFileOptions {
  /** Replace keys the file already has with different values. @default false */
  force?: boolean | undefined;
}

/** What {@linkcode writeEnvFile} did. */
export interface EnvFileChange {
  /** The file written (absolute). */
  path: string;
  /** Keys added or replaced. */
  written: string[];
  /** Keys left as they were because the file already had them (with another value) and `force` was off. */
  kept: string[];
}

function quote(value: string): string {
  if (/[\n"]/.test(value)) throw new TypeError(`writeEnvFile: a value may not contain a newline or '"'`);
  return /^[A-Za-z0-9_./:@+=,-]*$/.test(value) ? value : `"${value}"`;
}

/**
 * Merges `vars` into the `.env` file at `path`: new keys are appended, keys already there keep their value
 * unless `force`, comments and other lines stay as they are. The file is written to a temporary file
 * beside it with mode 0600 and renamed over the old one, so a reader never sees half a file and the
 * secrets in it are never readable by others.
 *
 * @throws {TypeError} for a key that is not a variable name or a value with a newline or `"`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
 * const path = `${mkdtempSync("/tmp/envfile-")}/.env`;
 * writeFileSync(path, "# mine\nCXR_STORAGE=azure\n");
 * const change = writeEnvFile(path, { CXR_STORAGE: "azurite", CXR_AZURITE_PORT: "10000" });
 * assert.deepEqual(change.kept, ["CXR_STORAGE"]);
 * assert.equal(readFileSync(path, "utf8"), "# mine\nCXR_STORAGE=azure\nCXR_AZURITE_PORT=10000\n");
 * assert.equal(statSync(path).mode & 0o777, 0o600);
 * writeEnvFile(path, { CXR_STORAGE: "azurite" }, { force: true });
 * assert.match(readFileSync(path, "utf8"), /^CXR_STORAGE=azurite$/m);
 * ```
 */
export function writeEnvFile(
  path: string,
  vars: Record<string, string>,
  options: WriteEnvFileOptions = {},
): EnvFileChange {
  const file = resolve(path);
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const existing = parseDotenv(text, file);
  const lines = text === "" ? [] : text.replace(/\r?\n$/, "").split(/\r?\n/);
  const written: string[] = [];
  const kept: string[] = [];
  for (const [key, value] of Object.entries(vars)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new TypeError(`writeEnvFile: "${key}" is not a variable name`);
    }
    const line = `${key}=${quote(value)}`;
    if (!(key in existing)) {
      lines.push(line);
      written.push(key);
    } else if (existing[key] !== value) {
      if (!options.force) {
        kept.push(key);
        continue;
      }
      const at = lines.findLastIndex((l) => new RegExp(`^\\s*(?:export\\s+)?${key}\\s*=`).test(l));
      lines[at] = line;
      written.push(key);
    }
  }
  const tmp = join(dirname(file), `.${basename(file)}.${Deno.pid}.tmp`);
  try {
    writeFileSync(tmp, lines.length ? lines.join("\n") + "\n" : "", { mode: 0o600 });
    chmodSync(tmp, 0o600); // the umask may have narrowed it; never wider than 0600 either way
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new VmError(`Cannot write settings file "${file}": ${(e as Error).message}`, { cause: e });
  }
  return { path: file, written, kept };
}

/**
 * Loads the settings with `envFile` merged in when it exists: on a fresh machine there is none yet, and
 * that is no error for `doctor` and `setup`.
 *
 * @throws {ConfigError} for a malformed setting, naming the variable.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(loadSettingsFrom("/no/such/.env", { env: {} }).envFile, undefined);
 * ```
 */
export function loadSettingsFrom(
  envFile: string,
  options: { env?: Record<string, string | undefined> } = {},
): Settings {
  return loadSettings({ ...options, envFile: existsSync(envFile) ? envFile : false });
}
