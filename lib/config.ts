/**
 * Settings: one typed object read from environment variables and an optional `.env` file, validated at
 * load time with messages that name the variable. Secrets are wrapped in {@linkcode Secret}, which prints
 * as `***` everywhere (console, JSON, Jupyter); `redactSecrets` (lib/secrets.ts) scrubs any secret value that was
 * loaded from text such as log lines and error messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const s = loadSettings({ env: { AZURE_STORAGE_ACCOUNT: "demo", AZURE_STORAGE_KEY: "c2VjcmV0", CXR_JUPYTER_PORT: "9000" }, envFile: false });
 * assert.equal(s.jupyterPort, 9000);
 * assert.equal(s.storage.accountKey?.reveal(), "c2VjcmV0");
 * assert.ok(!JSON.stringify(s).includes("c2VjcmV0"));
 * ```
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";

import { CxrError } from "./errors.ts";
import { REDACTED, registerSecret, Secret } from "./secrets.ts";

/** A setting was missing or malformed. `variable` names the environment variable. */
export class ConfigError extends CxrError {
  /**
   * @param message What is wrong with the setting (never its secret value).
   * @param variable The environment variable at fault, or `(file)` for the settings file itself.
   * @param options `cause`: the error behind this one.
   */
  constructor(message: string, readonly variable: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** What `CXR_BACKEND` may say: `auto` or one of the compute backends of `lib/model/backend.ts`. */
export const BACKEND_CHOICES = ["auto", "tensorflow", "webgpu", "wasm", "cpu"] as const;
/** A value of `CXR_BACKEND`. */
export type BackendChoice = typeof BACKEND_CHOICES[number];

/** How to reach blob storage. */
export interface StorageSettings {
  /** `azurite`: the embedded emulator (default without credentials); `azure`: a real account. */
  mode: "azurite" | "azure";
  /** Full connection string, if given (`AZURE_STORAGE_CONNECTION_STRING`). */
  connectionString?: Secret | undefined;
  /** Account name (`AZURE_STORAGE_ACCOUNT`). */
  account?: string | undefined;
  /** Account key (`AZURE_STORAGE_KEY`). */
  accountKey?: Secret | undefined;
  /** SAS token (`AZURE_STORAGE_SAS_TOKEN`). */
  sasToken?: Secret | undefined;
  /** Folder where the embedded Azurite keeps its data (`CXR_AZURITE_DIR`). */
  azuriteDir: string;
  /** Port of the embedded Azurite blob service (`CXR_AZURITE_PORT`, 0 = any free port). */
  azuritePort: number;
  /**
   * Longest one try of a storage request may go without an answer or a byte moved before it is aborted and
   * retried (`CXR_STORAGE_TIMEOUT_MS`, milliseconds, default 30000).
   */
  tryTimeoutMs: number;
  /** Container names. */
  containers: { archives: string; images: string; metadata: string; models: string };
}

/** Every setting of the workflow. */
export interface Settings {
  /** Where NIH data lives on this machine (`CXR_DATA_DIR`, default `./data/nih`). */
  dataDir: string;
  /** Scratch and cache folder (`CXR_WORK_DIR`, default `./.work`). */
  workDir: string;
  /** Base URL of the NIH archives (`CXR_NIH_BASE_URL`); unset = the official download links. */
  nihBaseUrl?: string | undefined;
  /**
   * Base URL of the pretrained weights files (`CXR_WEIGHTS_BASE_URL`), e.g. a mirror or an Azure Blob
   * container URL with a SAS query (a secret, shown as `?***`); unset = Keras Applications' own location.
   */
  weightsBaseUrl?: string | undefined;
  /** Where downloaded pretrained weights are kept (`CXR_WEIGHTS_CACHE`, default {@linkcode defaultWeightsCacheDir}). */
  weightsCacheDir: string;
  /** Compute backend (`CXR_BACKEND`). */
  backend: BackendChoice;
  /** Port of the host's Jupyter server (`CXR_JUPYTER_PORT`, default 10002). */
  jupyterPort: number;
  /** Port of the training container's Jupyter server (`CXR_TRAINING_JUPYTER_PORT`, default 10003). */
  trainingJupyterPort: number;
  /** Blob storage. */
  storage: StorageSettings;
  /** Azure subscription, resource group and region for `setup` (`AZURE_SUBSCRIPTION_ID`, ...). */
  azure: { subscriptionId?: string | undefined; resourceGroup: string; location: string };
  /** Key clients send to the scoring service (`CXR_SCORING_KEY`, 16+ printable ASCII characters). */
  scoringKey?: Secret | undefined;
  /** Where the settings came from, for display: the `.env` path if one was read. */
  envFile?: string | undefined;
}

/** Options of {@linkcode loadSettings}. */
export interface LoadSettingsOptions {
  /** Variables to read. @default Deno.env.toObject() */
  env?: Record<string, string | undefined>;
  /** `.env` file to merge under the variables; `false` for none. @default "./.env" if it exists */
  envFile?: string | false;
}

/**
 * Parses `.env` text: `KEY=value`, optional `export `, single or double quotes, `#` comments.
 *
 * @throws {ConfigError} on a line that is not `KEY=value`, naming the file and line.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseDotenv('A=1\n# c\nexport B="two words"\nC=\'x#y\' # note\n'), { A: "1", B: "two words", C: "x#y" });
 * ```
 */
export function parseDotenv(text: string, file = ".env"): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const [, key, rest] = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line) ?? [];
    if (key === undefined || rest === undefined) {
      throw new ConfigError(
        `Cannot read settings from "${file}" at line ${i + 1}: expected KEY=value`,
        "(file)",
      );
    }
    let value = rest;
    const q = value[0];
    if ((q === '"' || q === "'") && value.indexOf(q, 1) > 0) {
      value = value.slice(1, value.indexOf(q, 1));
      if (q === '"') value = value.replace(/\\n/g, "\n");
    } else {
      value = value.replace(/\s+#.*$/, "").trim();
    }
    out[key] = value;
  });
  return out;
}

/** An integer setting from `min` to `max`, `fallback` when unset or empty; `refusal` ends the error message. */
function integer(
  v: string | undefined,
  name: string,
  [min, max, fallback]: [number, number, number],
  refusal: string,
): number {
  if (v === undefined || v === "") return fallback;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name}="${v}" ${refusal}`, name);
  }
  return n;
}

function port(env: Record<string, string | undefined>, name: string, fallback: number, min = 1): number {
  return integer(env[name], name, [min, 65535, fallback], `is not a port number (${min}-65535)`);
}

function containerName(env: Record<string, string | undefined>, name: string, fallback: string): string {
  const v = env[name] || fallback;
  // Azure rules: 3-63 chars, lowercase letters, digits and single hyphens, starting with a letter or digit.
  if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(v)) {
    throw new ConfigError(
      `${name}="${v}" is not a valid container name: 3-63 lowercase letters, digits and single hyphens`,
      name,
    );
  }
  return v;
}

/**
 * The default folder for downloaded pretrained weights: the user's cache folder, never the work tree —
 * `$XDG_CACHE_HOME/cxr/weights` when that is an absolute path, else `~/.cache/cxr/weights`
 * (`%LOCALAPPDATA%/cxr/weights` on Windows), else a `cxr-weights` folder in the system's temporary folder.
 * `CXR_WEIGHTS_CACHE` overrides it (see {@linkcode loadSettings}).
 *
 * @param env Variables to read. @default Deno.env.toObject()
 * @returns An absolute path.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(defaultWeightsCacheDir({ XDG_CACHE_HOME: "/var/cache/ada", HOME: "/home/ada" }), "/var/cache/ada/cxr/weights");
 * assert.equal(defaultWeightsCacheDir({ HOME: "/home/ada" }), "/home/ada/.cache/cxr/weights");
 * ```
 */
export function defaultWeightsCacheDir(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, "cxr", "weights");
  if (Deno.build.os === "windows" && env.LOCALAPPDATA) return join(env.LOCALAPPDATA, "cxr", "weights");
  const home = env.HOME || env.USERPROFILE;
  if (home && isAbsolute(home)) return join(home, ".cache", "cxr", "weights");
  return join(tmpdir(), "cxr-weights");
}

/** `CXR_WEIGHTS_BASE_URL`, checked: an http(s) URL; its query (a SAS token, say) is registered as a secret. */
function weightsBaseUrl(env: Record<string, string | undefined>): string | undefined {
  const v = env.CXR_WEIGHTS_BASE_URL || undefined;
  if (v === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(v);
  } catch { /* reported below */ }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) {
    const shown = v.replace(/[?#].*$/s, "");
    throw new ConfigError(
      `CXR_WEIGHTS_BASE_URL="${shown}" must be an http(s) URL (query not shown)`,
      "CXR_WEIGHTS_BASE_URL",
    );
  }
  if (url.search.length > 1) registerSecret(url.search.slice(1));
  return v;
}

/**
 * Loads and validates the settings. Secrets (keys, connection string, SAS token) lose surrounding whitespace,
 * such as the newline at the end of a key file.
 *
 * @throws {ConfigError} naming the variable that is malformed or missing.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const s = loadSettings({ env: { CXR_SCORING_KEY: "scoring-key-0123456789\n" }, envFile: false });
 * assert.equal(s.scoringKey?.reveal(), "scoring-key-0123456789");
 * assert.throws(() => loadSettings({ env: { CXR_SCORING_KEY: "scoring key 0123456789" }, envFile: false }), /printable ASCII/);
 * ```
 */
export function loadSettings(options: LoadSettingsOptions = {}): Settings {
  let fileVars: Record<string, string> = {};
  let envFile: string | undefined;
  if (options.envFile !== false) {
    const path = resolve(options.envFile ?? ".env");
    if (existsSync(path)) {
      fileVars = parseDotenv(readFileSync(path, "utf8"), path);
      envFile = path;
    } else if (options.envFile !== undefined) {
      throw new ConfigError(`Settings file "${path}" does not exist`, "(file)");
    }
  }
  const env = { ...fileVars, ...(options.env ?? Deno.env.toObject()) };
  // A secret read from a file (`kubectl create secret --from-file`, `$(cat key)`, a .env written by an
  // editor) often ends in a newline that nobody sees: surrounding whitespace is never part of a key.
  // `pattern` is the form the trimmed value must have; `refusal` says so in the error.
  const secret = (name: string, [pattern, refusal]: [RegExp, string], minLength = 8): Secret | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    const v = raw.trim();
    if (v === "") throw new ConfigError(`${name} is set but blank (only whitespace)`, name);
    if (v.length < minLength) throw new ConfigError(`${name} is set but too short to be valid`, name);
    const value = new Secret(v);
    if (!pattern.test(v)) throw new ConfigError(`${name} ${refusal} (value not shown)`, name);
    return value;
  };

  const connectionString = secret("AZURE_STORAGE_CONNECTION_STRING", [
    /AccountName=|BlobEndpoint=|UseDevelopmentStorage=true/i,
    "must contain AccountName= or BlobEndpoint=",
  ]);
  const accountKey = secret("AZURE_STORAGE_KEY", [/^[A-Za-z0-9+/]+={0,2}$/, "is not base64"]);
  const sasRaw = env.AZURE_STORAGE_SAS_TOKEN?.trim().replace(/^\?/, "");
  const sasToken = sasRaw ? new Secret(sasRaw) : undefined;
  if (sasToken && !/(^|&)sig=/.test(sasToken.reveal())) {
    throw new ConfigError(
      "AZURE_STORAGE_SAS_TOKEN has no sig= part (value not shown)",
      "AZURE_STORAGE_SAS_TOKEN",
    );
  }
  const account = env.AZURE_STORAGE_ACCOUNT || undefined;
  if (account && !/^[a-z0-9]{3,24}$/.test(account)) {
    throw new ConfigError(
      `AZURE_STORAGE_ACCOUNT="${account}" is not a valid account name: 3-24 lowercase letters and digits`,
      "AZURE_STORAGE_ACCOUNT",
    );
  }
  if ((accountKey || sasToken) && !account && !connectionString) {
    throw new ConfigError(
      "AZURE_STORAGE_ACCOUNT is required when AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN is set",
      "AZURE_STORAGE_ACCOUNT",
    );
  }
  const modeRaw = env.CXR_STORAGE ?? (connectionString || account ? "azure" : "azurite");
  if (modeRaw !== "azure" && modeRaw !== "azurite") {
    throw new ConfigError(`CXR_STORAGE="${modeRaw}" must be one of: azurite, azure`, "CXR_STORAGE");
  }
  if (modeRaw === "azure" && !connectionString && !account) {
    throw new ConfigError(
      "CXR_STORAGE=azure needs AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT (with a key, SAS or az login)",
      "AZURE_STORAGE_ACCOUNT",
    );
  }
  const backend = (env.CXR_BACKEND || "auto") as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend)) {
    throw new ConfigError(
      `CXR_BACKEND="${backend}" must be one of: ${BACKEND_CHOICES.join(", ")}`,
      "CXR_BACKEND",
    );
  }
  const nihBaseUrl = env.CXR_NIH_BASE_URL || undefined;
  if (nihBaseUrl && !/^https?:\/\//.test(nihBaseUrl)) {
    throw new ConfigError(`CXR_NIH_BASE_URL="${nihBaseUrl}" must be an http(s) URL`, "CXR_NIH_BASE_URL");
  }
  const workDir = resolve(env.CXR_WORK_DIR || ".work");
  const settings: Settings = {
    dataDir: resolve(env.CXR_DATA_DIR || "data/nih"),
    workDir,
    nihBaseUrl,
    weightsBaseUrl: weightsBaseUrl(env),
    weightsCacheDir: resolve(env.CXR_WEIGHTS_CACHE || defaultWeightsCacheDir(env)),
    backend,
    jupyterPort: port(env, "CXR_JUPYTER_PORT", 10002),
    trainingJupyterPort: port(env, "CXR_TRAINING_JUPYTER_PORT", 10003),
    storage: {
      mode: modeRaw,
      connectionString,
      account,
      accountKey,
      sasToken,
      azuriteDir: resolve(env.CXR_AZURITE_DIR || `${workDir}/azurite`),
      azuritePort: port(env, "CXR_AZURITE_PORT", 10000, 0),
      tryTimeoutMs: integer(
        env.CXR_STORAGE_TIMEOUT_MS?.trim(),
        "CXR_STORAGE_TIMEOUT_MS",
        [1, 3_600_000, 30_000],
        "must be a whole number of milliseconds from 1 to 3600000",
      ),
      containers: {
        archives: containerName(env, "CXR_CONTAINER_ARCHIVES", "nih-archives"),
        images: containerName(env, "CXR_CONTAINER_IMAGES", "nih-images"),
        metadata: containerName(env, "CXR_CONTAINER_METADATA", "nih-metadata"),
        models: containerName(env, "CXR_CONTAINER_MODELS", "models"),
      },
    },
    azure: {
      subscriptionId: env.AZURE_SUBSCRIPTION_ID || undefined,
      resourceGroup: env.AZURE_RESOURCE_GROUP || "cxr-rg",
      location: env.AZURE_LOCATION || "eastus",
    },
    // Clients send the scoring key in an `Authorization: Bearer` header, which cannot carry spaces, control
    // characters or non-ASCII text: such a key could never match, so it is refused here, not with 401s later.
    scoringKey: secret("CXR_SCORING_KEY", [
      /^[\x21-\x7e]+$/,
      "must be printable ASCII without spaces or line breaks inside it, as clients send it in an " +
      "Authorization: Bearer header",
    ], 16),
    envFile,
  };
  // A URL setting may carry a SAS query: printed (JSON, console, notebook) it shows as `?***`.
  Object.defineProperties(settings, {
    toJSON: { value: () => withoutUrlQueries(settings), enumerable: false },
    [Symbol.for("Deno.customInspect")]: {
      value: (inspect: typeof Deno.inspect, options: Deno.InspectOptions) =>
        inspect(withoutUrlQueries(settings), options),
      enumerable: false,
    },
  });
  return settings;
}

/** `value` with the query of every http(s) URL string replaced by `?***` (secrets stay `Secret`s). */
function withoutUrlQueries(value: unknown): unknown {
  if (typeof value === "string") return /^https?:\/\//i.test(value) ? value.replace(/\?.*$/s, "?***") : value;
  if (!value || typeof value !== "object" || value instanceof Secret) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutUrlQueries(v)]));
}

/**
 * Flattens settings into `[name, value]` rows for display, secrets shown as `***` (or `(unset)`); a URL's
 * query string (which may be a SAS token) shows as `?***`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const env = { CXR_SCORING_KEY: "0123456789abcdef0", CXR_WEIGHTS_BASE_URL: "https://a.blob.core.windows.net/w?sv=1&sig=c2lnbmF0dXJl" };
 * const rows = settingsRows(loadSettings({ env, envFile: false }));
 * assert.deepEqual(rows.find(([k]) => k === "scoringKey"), ["scoringKey", "***"]);
 * assert.deepEqual(rows.find(([k]) => k === "weightsBaseUrl"), ["weightsBaseUrl", "https://a.blob.core.windows.net/w?***"]);
 * ```
 */
export function settingsRows(settings: Settings): [string, string][] {
  const rows: [string, string][] = [];
  const walk = (prefix: string, obj: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? `${prefix}.${k}` : k;
      if (v instanceof Secret) rows.push([key, REDACTED]);
      else if (v && typeof v === "object") walk(key, v as Record<string, unknown>);
      else rows.push([key, v === undefined ? "(unset)" : String(withoutUrlQueries(v))]);
    }
  };
  walk("", settings as unknown as Record<string, unknown>);
  return rows;
}
