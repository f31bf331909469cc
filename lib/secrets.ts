/**
 * Secrets: {@linkcode Secret} wraps a key, connection string, SAS token or scoring key so that it never
 * prints, and {@linkcode redactSecrets} scrubs every registered secret (and anything shaped like a storage key,
 * SAS signature or bearer token) from text such as log lines and error messages. Every toolkit error
 * (`lib/errors.ts`) passes its message through it.
 *
 * @module
 */
import { JUPYTER_DISPLAY } from "./display.ts";

/** What a secret prints as, everywhere. */
export const REDACTED = "***";
const knownSecrets = new Set<string>();

/**
 * A secret value (key, connection string, SAS token). It never prints: `String()`, `JSON.stringify`,
 * `console.log` and Jupyter all show `***`. Call {@linkcode Secret.reveal} where the value is really used.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const s = new Secret("hunter2-long-secret");
 * assert.equal(`${s}`, "***");
 * assert.equal(JSON.stringify({ s }), '{"s":"***"}');
 * assert.equal(s.reveal(), "hunter2-long-secret");
 * ```
 */
export class Secret {
  #value: string;
  constructor(value: string) {
    this.#value = value;
    registerSecret(value);
  }
  /** The real value. Pass it to the client that needs it; never print it. */
  reveal(): string {
    return this.#value;
  }
  /** Always `***`. */
  toString(): string {
    return REDACTED;
  }
  /** Always `"***"`. */
  toJSON(): string {
    return REDACTED;
  }
  [Symbol.for("Deno.customInspect")](): string {
    return REDACTED;
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return REDACTED;
  }
  [JUPYTER_DISPLAY](): Record<string, string> {
    return { "text/plain": REDACTED };
  }
}

/**
 * Remembers a secret value so that {@linkcode redactSecrets} removes it from any text. Parts of a
 * connection string (`AccountKey=`, `SharedAccessSignature=`) and a SAS token's `sig=` are registered too.
 */
export function registerSecret(value: string): void {
  if (value.length < 6) return; // too short to scrub safely; settings validation rejects such keys anyway
  knownSecrets.add(value);
  for (const [, part = ""] of value.matchAll(/(?:AccountKey|SharedAccessSignature|sig)=([^;&\s]+)/gi)) {
    if (part.length >= 6) {
      knownSecrets.add(part);
      try {
        knownSecrets.add(decodeURIComponent(part));
      } catch { /* not URI-encoded */ }
    }
  }
}

/**
 * Replaces every registered secret, and anything that looks like a storage key, SAS signature or
 * connection-string key, with `***`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * registerSecret("my-very-secret-value");
 * assert.equal(redactSecrets("key is my-very-secret-value!"), "key is ***!");
 * assert.equal(redactSecrets("https://a/b?sv=1&sig=abc%2Fdef&se=2"), "https://a/b?sv=1&sig=***&se=2");
 * assert.equal(redactSecrets("AccountKey=Zm9vYmFy;EndpointSuffix=x"), "AccountKey=***;EndpointSuffix=x");
 * ```
 */
export function redactSecrets(text: string): string {
  let out = text;
  for (const s of [...knownSecrets].sort((a, b) => b.length - a.length)) out = out.split(s).join(REDACTED);
  return out.replace(
    /\b(AccountKey|SharedAccessSignature|sig|scoringKey|Authorization: Bearer)=([^;&\s"']+)/gi,
    "$1=***",
  );
}
