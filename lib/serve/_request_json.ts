// The JSON body of POST /score read straight from its bytes, with nothing built but the three fields: one
// object of at most `image` (a string), `heatmap` (true/false) and `class` (a short string). An array or
// object where a value is expected, an unknown or repeated field, or a value of the wrong type stops the scan
// at once, so a body of nested arrays costs a few bytes of state, not a tree (JSON.parse of 18 MB of nested
// arrays builds about half a gigabyte). The image string is never made a JS string: its base64 is decoded
// from the body's bytes into one Uint8Array.

/** Where and why a body is refused (`offset` in bytes); the caller turns it into line and column. */
export class JsonScanError {
  constructor(readonly offset: number, readonly what: string) {}
}

/** The fields found: the image as a byte range of the body, the others decoded. */
export interface ScannedRequest {
  image?: { start: number; end: number; escaped: boolean; keyAt: number };
  heatmap?: boolean;
  className?: string;
}

/** Longest `class` value decoded (class names are short; a longer one is reported by its start). */
const MAX_SMALL_STRING = 256;
const FIELDS = ["image", "heatmap", "class"];
const SHAPE = 'expected an object {"image": "<base64>", "heatmap": bool, "class": name}';

/** JSON's whitespace: space, line feed, carriage return, tab. */
const WS = [0x20, 0x0a, 0x0d, 0x09];

function show(b: Uint8Array, i: number): string {
  return JSON.stringify(new TextDecoder().decode(b.subarray(i, i + 4))[0] ?? "");
}

const EXPECTED: Record<string, string> = {
  image: '"image" must be a base64 string',
  heatmap: '"heatmap" must be true or false',
  class: '"class" must be a string',
};

/**
 * Scans a `POST /score` JSON body.
 *
 * @throws {JsonScanError} at the first byte that is not valid JSON or not of the request's shape.
 */
export function scanRequestJson(b: Uint8Array): ScannedRequest {
  const n = b.length;
  let i = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0; // TextDecoder dropped a BOM too
  const invalid = (at: number): never => {
    throw new JsonScanError(
      at,
      `invalid JSON (${at >= n ? "unexpected end of input" : `unexpected character ${show(b, at)}`})`,
    );
  };
  const ws = () => {
    while (i < n && WS.includes(b[i]!)) i++;
  };
  /** Scans the string whose opening quote is at `i`; leaves `i` after its closing quote. */
  const string = (): { start: number; end: number; escaped: boolean } => {
    const start = ++i;
    let escaped = false;
    for (;;) {
      if (i >= n) invalid(n);
      const c = b[i]!;
      if (c === 0x22) break;
      if (c < 0x20) invalid(i);
      if (c === 0x5c) {
        escaped = true;
        const e = b[i + 1] ?? -1; // past the end: invalid below
        if (e === 0x75) {
          for (let k = 2; k < 6; k++) {
            if (!/[0-9A-Fa-f]/.test(String.fromCharCode(b[i + k] ?? -1))) invalid(Math.min(n, i + k));
          }
          i += 6;
          continue;
        }
        if (![0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74].includes(e)) invalid(Math.min(n, i + 1));
        i += 2;
        continue;
      }
      i++;
    }
    return { start, end: i++, escaped };
  };
  const small = (s: { start: number; end: number }): string => {
    if (s.end - s.start > MAX_SMALL_STRING) {
      return new TextDecoder().decode(b.subarray(s.start, s.start + 60)) + "...";
    }
    return JSON.parse(new TextDecoder().decode(b.subarray(s.start - 1, s.end + 1)));
  };
  const literal = (word: string): void => {
    for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) invalid(Math.min(n, i + k));
    i += word.length;
  };

  ws();
  if (i >= n) invalid(n);
  const first = b[i]!; // i < n
  if (first !== 0x7b) {
    // `[`, `"`, `-`, a digit, or the `t`/`f`/`n` of true/false/null: JSON, but not an object
    if ([0x5b, 0x22, 0x2d, 0x74, 0x66, 0x6e].includes(first) || (first >= 0x30 && first <= 0x39)) {
      throw new JsonScanError(i, SHAPE);
    }
    invalid(i);
  }
  i++;
  const out: ScannedRequest = {};
  const seen = new Set<string>();
  ws();
  if (b[i] === 0x7d) {
    i++;
  } else {
    for (;;) {
      ws();
      if (b[i] !== 0x22) invalid(i);
      const keyAt = i;
      const key = small(string());
      if (!FIELDS.includes(key)) {
        throw new JsonScanError(
          keyAt,
          `unknown field "${key.slice(0, 40)}"; fields are image, heatmap, class`,
        );
      }
      if (seen.has(key)) throw new JsonScanError(keyAt, `field "${key}" appears twice`);
      seen.add(key);
      ws();
      if (b[i] !== 0x3a) invalid(i);
      i++;
      ws();
      const c = b[i] ?? -1; // past the end: invalid below
      const wrongType = (kind: string): never => {
        throw new JsonScanError(keyAt, `${EXPECTED[key]}, not ${kind}`);
      };
      if (c === 0x5b || c === 0x7b) {
        wrongType(c === 0x5b ? "an array" : "an object"); // nothing inside is read: nesting stops here
      } else if (c === 0x22) {
        const s = string();
        if (key === "image") out.image = { ...s, keyAt };
        else if (key === "class") out.className = small(s);
        else wrongType("a string");
      } else if (c === 0x74 || c === 0x66) {
        literal(c === 0x74 ? "true" : "false");
        if (key !== "heatmap") wrongType("a boolean");
        out.heatmap = c === 0x74;
      } else if (c === 0x6e) {
        literal("null");
        wrongType("null");
      } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        wrongType("a number");
      } else {
        invalid(i);
      }
      ws();
      if (b[i] === 0x2c) {
        i++;
        continue;
      }
      if (b[i] === 0x7d) {
        i++;
        break;
      }
      invalid(i);
    }
  }
  ws();
  if (i < n) invalid(i);
  return out;
}

// Base64 over bytes: A-Z a-z 0-9 + / as 0..63, "=" as -2, ASCII whitespace as -3, anything else -1.
const SEXTET = new Int8Array(256).fill(-1);
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".split("").forEach((ch, v) =>
  SEXTET[ch.charCodeAt(0)] = v
);
SEXTET[0x3d] = -2;
for (const c of [0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]) SEXTET[c] = -3;

/**
 * Unescapes a JSON string's bytes (the image's, when it holds `\/` or `\n`): ASCII stays one byte per
 * character, so offsets stay character offsets. A `\u` escape above ASCII cannot be base64 and is reported.
 */
export function unescapeAscii(b: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  let o = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!; // i < end
    if (c !== 0x5c) {
      out[o++] = c;
      continue;
    }
    const e = b[++i] ?? 0; // the scan checked every escape
    if (e === 0x75) {
      const cp = parseInt(String.fromCharCode(...b.subarray(i + 1, i + 5)), 16);
      if (cp >= 0x80) {
        throw new SyntaxError(
          `invalid base64 character ${JSON.stringify(String.fromCharCode(cp))} at offset ${o}`,
        );
      }
      out[o++] = cp;
      i += 4;
    } else {
      out[o++] = ({ 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9 } as Record<number, number>)[e] ?? e;
    }
  }
  return out.subarray(0, o);
}

/** Standard base64 in `b[start, end)`, strictly (whitespace allowed, a `data:...;base64,` prefix skipped). */
export function base64ToBytes(b: Uint8Array, start = 0, end = b.length): Uint8Array {
  const head = String.fromCharCode(...b.subarray(start, Math.min(end, start + 200)));
  const prefix = /^data:[\w.+/-]*;base64,/i.exec(head);
  const from = start + (prefix ? prefix[0].length : 0);
  let data = 0, pad = 0, misplaced = false;
  for (let i = from; i < end; i++) {
    const v = SEXTET[b[i]!]!; // i < end, a byte indexes all 256
    if (v >= 0) {
      if (pad > 0) misplaced = true;
      data++;
    } else if (v === -2) {
      pad++;
    } else if (v === -1) {
      throw new SyntaxError(`invalid base64 character ${show(b, i)} at offset ${i - start}`);
    }
  }
  const compact = data + pad;
  if (compact % 4 !== 0 || misplaced || pad > 2) {
    throw new SyntaxError(`invalid base64: ${compact} characters, padding or length is wrong`);
  }
  const out = new Uint8Array((compact / 4) * 3 - pad);
  let acc = 0, bits = 0, o = 0;
  for (let i = from; i < end; i++) {
    const v = SEXTET[b[i]!]!; // i < end, a byte indexes all 256
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  return out;
}

/** 1-based line and column (in characters) of byte `offset` of UTF-8 `b`. */
export function lineColumnBytes(b: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1, column = 1;
  const end = Math.max(0, Math.min(offset, b.length));
  for (let i = 0; i < end; i++) {
    if (b[i] === 0x0a) {
      line++;
      column = 1;
    } else if ((b[i]! & 0xc0) !== 0x80) {
      column++;
    }
  }
  return { line, column };
}
