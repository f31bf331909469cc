// Helpers shared by this folder's tests: the NIH sample's PNGs, settings for an emulator behind a port.
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadSettings, type Settings } from "../config.ts";
import { samplePngs } from "../../tests/_archive_server.ts";
import { NIH_SAMPLE } from "../../tests/_fixtures.ts";
import { AZURITE_ACCOUNT, azuriteConnectionString } from "./azurite.ts";

/** The sample's images folder. */
export const IMAGES: string = join(NIH_SAMPLE, "images");
/** The sample's PNG names, sorted. */
export const PNGS: string[] = samplePngs();
/** The i-th sample PNG name; fails clearly if the sample has fewer. */
export const png = (i: number): string => PNGS[i] ?? assert.fail(`the sample has no PNG #${i}`);

/** Settings of `env` alone: no `.env` file, nothing from the process environment. */
export function envSettings(env: Record<string, string>): Settings {
  return loadSettings({ env, envFile: false });
}

/** Settings of `AZURE_STORAGE_CONNECTION_STRING` alone, plus `env`. */
export function settingsFor(connectionString: string, env: Record<string, string> = {}): Settings {
  return envSettings({ AZURE_STORAGE_CONNECTION_STRING: connectionString, ...env });
}

/** Settings whose connection string names the emulator account at `127.0.0.1:<port>`, plus `env`. */
export function settingsAtPort(port: number, env: Record<string, string> = {}): Settings {
  return settingsFor(azuriteConnectionString(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`).reveal(), env);
}
