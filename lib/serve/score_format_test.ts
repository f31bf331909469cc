import assert from "node:assert/strict";
import { FINDINGS } from "../nih/mod.ts";
import { base64 } from "../display.ts";
import {
  parseScoreRequest,
  parseScoreResponse,
  ScoreFormatError,
  ScoreHttpError,
  ScoringServiceError,
} from "./score_format.ts";
import { base64ToBytes } from "./_request_json.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
const parseJson = (s: string) => parseScoreRequest(enc(s), "application/json");
/** `PNG` parsed as a raw body of `type` with the query `query` (and `classNames` when given). */
const parseRaw = (query: string, type = "image/png", classNames?: readonly string[]) =>
  parseScoreRequest(PNG, type, { query: new URLSearchParams(query), ...(classNames && { classNames }) });

/** The {@linkcode ScoreHttpError} `fn` throws. */
function httpError(fn: () => unknown): ScoreHttpError {
  let thrown: unknown;
  assert.throws(fn, (e) => (thrown = e) instanceof ScoreHttpError);
  return thrown as ScoreHttpError;
}

Deno.test("parseScoreRequest: raw PNG and JPEG bodies with query options", () => {
  assert.deepEqual(parseScoreRequest(PNG, "image/png"), { image: PNG, heatmap: false, className: undefined });
  assert.deepEqual(parseRaw("heatmap=true&class=Pleural_Thickening", "Image/JPEG; foo=bar"), {
    image: PNG,
    heatmap: true,
    className: "Pleural_Thickening",
  });
  assert.equal(parseRaw("heatmap=0").heatmap, false);
  const bad = httpError(() => parseRaw("heatmap=maybe"));
  assert.equal(bad.status, 400);
  assert.match(bad.message, /heatmap="maybe" must be 1 or 0/);
  const unknown = httpError(() => parseRaw("class=Flu"));
  assert.equal(unknown.code, "bad_request");
  assert.match(
    unknown.message,
    /Unknown finding "Flu" in query parameter class; valid: Atelectasis, .*Hernia/,
  );
});

Deno.test("parseScoreRequest: content types and empty bodies", () => {
  for (const type of [null, "text/plain", "application/octet-stream", "image/gif"]) {
    const e = httpError(() => parseScoreRequest(PNG, type));
    assert.equal(e.status, 415);
    assert.equal(e.code, "unsupported_media_type");
    assert.match(e.message, /send one of: image\/png, image\/jpeg, application\/dicom, application\/json/);
  }
  const empty = httpError(() => parseScoreRequest(new Uint8Array(0), "image/png"));
  assert.equal(empty.status, 400);
  assert.match(empty.message, /empty/);
});

Deno.test("parseScoreRequest: JSON bodies, with line and column of each problem", () => {
  const ok = parseJson(`{"image": "${base64(PNG)}", "heatmap": true, "class": "Mass"}`);
  assert.deepEqual(ok, { image: PNG, heatmap: true, className: "Mass" });
  const cases: [string, RegExp][] = [
    ['{"image": "AQID",\n  "heatmap": x}', /at line 2, column 14: invalid JSON/],
    ['{"image": "AQID"', /at line 1, column 17: invalid JSON/],
    ["[1]", /line 1, column 1: expected an object/],
    ['{"image": "AQID",\n "extra": 1}', /line 2, column 2: unknown field "extra"/],
    ['{"heatmap": true}', /"image" must be a base64 string/],
    ['{"image": "AQID", "heatmap": "yes"}', /line 1, column 19: "heatmap" must be true or false/],
    ['{"image": "AQID", "class": 3}', /"class" must be a string/],
    ['{"image": "AQ!D"}', /"image": invalid base64 character "!" at offset 2/],
    ['{"image": "AQI"}', /"image": invalid base64: 3 characters/],
    ['{"image": ""}', /"image" is empty/],
    ['{"image": "AQID", "class": "mass"}', /Unknown finding "mass" in "class"/],
  ];
  for (const [body, pattern] of cases) {
    const e = httpError(() => parseJson(body));
    assert.equal(e.status, 400, body);
    assert.match(e.message, pattern, body);
    if (!/Unknown finding/.test(e.message)) {
      assert.ok(e.cause instanceof ScoreFormatError, body);
      assert.equal(e.cause.file, "request body");
    }
  }
});

Deno.test("parseScoreRequest: other class lists", () => {
  assert.equal(parseRaw("class=b", "image/png", ["a", "b"]).className, "b");
  assert.throws(() => parseRaw("class=Mass", "image/png", ["a"]), /valid: a$/);
});

Deno.test("base64ToBytes/base64 round trip, whitespace and data URLs", () => {
  const decode = (text: string) => base64ToBytes(enc(text));
  const bytes = new Uint8Array(1000).map((_, i) => (i * 37) & 255);
  const text = base64(bytes);
  assert.deepEqual(decode(text), bytes);
  assert.deepEqual(decode(text.replace(/(.{76})/g, "$1\n")), bytes);
  assert.deepEqual(decode("data:image/jpeg;base64," + text), bytes);
  assert.deepEqual(decode("data:image/png;base64,AQID"), new Uint8Array([1, 2, 3]));
  assert.deepEqual(decode("AQI="), new Uint8Array([1, 2]));
  assert.throws(() => decode("AQ=D"), /padding or length/);
  assert.throws(() => decode("-_-_"), /invalid base64 character "-" at offset 0/);
  assert.throws(() => decode("AQ*D"), /invalid base64 character "\*" at offset 2/);
});

function response(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const probabilities = Object.fromEntries(FINDINGS.map((f, i) => [f, i / 20]));
  return {
    model: { name: "densenet", version: "v1" },
    probabilities,
    top: { class: "Hernia", probability: 0.65 },
    ...extra,
  };
}

Deno.test("parseScoreResponse: a 200 body of the documented shape", () => {
  const body = response({ heatmap: "iVBORw==", heatmapClass: "Mass" });
  const parsed = parseScoreResponse(JSON.stringify(body), 200, { classNames: FINDINGS });
  assert.deepEqual(parsed, body);
  assert.equal(Object.keys(parsed.probabilities).length, 14);
});

Deno.test("parseScoreResponse: malformed 200 bodies say where", () => {
  const bad: [unknown, RegExp][] = [
    [response({ model: { name: "x" } }), /"model" must be/],
    [response({ probabilities: [] }), /"probabilities" must be an object/],
    [response({ probabilities: { Mass: 1.5 } }), /probability of "Mass" must be a number 0..1, got 1.5/],
    [response({ top: { class: "Flu", probability: 0.1 } }), /"top" must be/],
    [response({ heatmap: 3 }), /"heatmap" must be a base64 PNG string/],
    [response({ heatmapClass: "Flu" }), /"heatmapClass" must be one of/],
  ];
  for (const [body, pattern] of bad) {
    const text = JSON.stringify(body, null, 1);
    assert.throws(() => parseScoreResponse(text, 200, { source: "http://h/score" }), (e: unknown) => {
      assert.ok(e instanceof ScoreFormatError);
      assert.match(e.message, pattern);
      assert.match(e.message, /^Cannot read the answer of http:\/\/h\/score at line \d+, column \d+: /);
      return true;
    });
  }
  assert.throws(() => parseScoreResponse("<html>", 200), /line 1, column 1: invalid JSON/);
  const wrongClasses = JSON.stringify(
    response({ probabilities: { Mass: 0.5 }, top: { class: "Mass", probability: 0.5 } }),
  );
  assert.throws(
    () => parseScoreResponse(wrongClasses, 200, { classNames: FINDINGS }),
    /expected the classes Atelectasis/,
  );
});

Deno.test("parseScoreResponse: error documents and bodies that are not", () => {
  const doc = JSON.stringify({ error: { status: 413, code: "too_large", message: "over 20 MB" } });
  assert.throws(() => parseScoreResponse(doc, 413, { source: "http://h/score" }), (e: unknown) => {
    assert.ok(e instanceof ScoringServiceError);
    assert.equal(e.status, 413);
    assert.equal(e.code, "too_large");
    assert.equal(e.serviceMessage, "over 20 MB");
    assert.equal(e.message, "http://h/score answered 413 too_large: over 20 MB");
    return true;
  });
  assert.throws(
    () => parseScoreResponse("Bad Gateway", 502),
    /scoring service answered 502 internal: Bad Gateway/,
  );
  assert.throws(() => parseScoreResponse("", 500), /answered 500 internal: \(empty body\)/);
});

Deno.test("parseScoreRequest: a JSON body builds nothing; arrays and objects are refused where they start", () => {
  const parse = JSON.parse;
  const seen: number[] = [];
  JSON.parse = ((text: string, reviver?: (k: string, v: unknown) => unknown) => {
    seen.push(String(text).length);
    return parse(text, reviver);
  }) as typeof JSON.parse;
  try {
    // 8 MB of nested arrays after the image: refused at the first bracket, in well under a second
    const nested = enc(`{"image": "AQID",\n "heatmap": ${"[".repeat(8_000_000)}`);
    const started = performance.now();
    const e = httpError(() => parseScoreRequest(nested, "application/json"));
    assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
    assert.equal(e.status, 400);
    assert.match(e.message, /at line 2, column 2: "heatmap" must be true or false, not an array$/);
    const deep = httpError(() => parseJson(`{"image": {"a": ${"[".repeat(100_000)}]}}`));
    assert.match(deep.message, /line 1, column 2: "image" must be a base64 string, not an object/);
    const padded = httpError(() => parseJson(`{"pad": [${"[0],".repeat(100_000)}0], "image": "AQID"}`));
    assert.match(padded.message, /line 1, column 2: unknown field "pad"; fields are image, heatmap, class/);
    const big = base64(new Uint8Array(3_000_000).map((_, i) => i * 7));
    const ok = parseJson(`{"class": "Mass", "image": "${big}"}`);
    assert.equal(ok.image.length, 3_000_000);
    assert.equal(ok.image[1000], (1000 * 7) & 255);
  } finally {
    JSON.parse = parse;
  }
  // only field names and the class (each at most 258 characters) ever went through JSON.parse
  assert.ok(seen.every((n) => n <= 258), `JSON.parse saw ${Math.max(...seen)} characters`);
});

Deno.test("parseScoreRequest: escapes, a BOM, data URLs, repeated fields and trailing text", () => {
  assert.deepEqual(
    parseJson('\ufeff{"image": "data:image/png;base64,AQ\\/\\nD"}').image,
    base64ToBytes(enc("AQ/D")),
  );
  assert.deepEqual(parseJson('{"image": "\\u0041QID", "class": "\\u004dass"}'), {
    image: new Uint8Array([1, 2, 3]),
    heatmap: false,
    className: "Mass",
  });
  const cases: [string, RegExp][] = [
    ['{"image": "AQID", "image": "AQID"}', /line 1, column 19: field "image" appears twice/],
    ['{"image": "AQID"} x', /line 1, column 19: invalid JSON \(unexpected character "x"\)/],
    ['{"image": "AQ\\u00e9D"}', /"image": invalid base64 character "é" at offset 2/],
    ['{"image": "AQ\\qD"}', /line 1, column 15: invalid JSON/],
    ['{"image": "AQID",}', /line 1, column 18: invalid JSON/],
    ['{"image": "AQID", "heatmap": tru}', /line 1, column 33: invalid JSON/],
    ['{"image": "AQID", "heatmap": null}', /"heatmap" must be true or false, not null/],
    ['{"image": true}', /"image" must be a base64 string, not a boolean/],
    ['{"image": "é@"}', /"image": invalid base64 character "é" at offset 0/],
    ["", /empty/],
    ["  ", /line 1, column 3: invalid JSON \(unexpected end of input\)/],
    ['"AQID"', /line 1, column 1: expected an object/],
  ];
  for (const [body, pattern] of cases) {
    const e = httpError(() => parseJson(body));
    assert.equal(e.status, 400, body);
    assert.match(e.message, pattern, body);
  }
});

/** The parse this service did before it scanned bytes: JSON.parse, then the shape; the reference. */
function reference(
  text: string,
): { image: Uint8Array; heatmap: boolean; className?: string | undefined } | "invalid" | "shape" {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return "invalid";
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return "shape";
  const o = raw as Record<string, unknown>;
  if (Object.keys(o).some((k) => !["image", "heatmap", "class"].includes(k))) return "shape";
  if (typeof o.image !== "string") return "shape";
  if (o.heatmap !== undefined && typeof o.heatmap !== "boolean") return "shape";
  if (o.class !== undefined && (typeof o.class !== "string" || !FINDINGS.includes(o.class as never))) {
    return "shape";
  }
  const compact = o.image.replace(/^data:[\w.+/-]*;base64,/i, "");
  if (/[^A-Za-z0-9+/=\s]/.test(compact)) return "shape";
  const c = compact.replace(/\s+/g, "");
  if (c.length === 0 || c.length % 4 !== 0 || /=[^=]/.test(c) || /={3,}$/.test(c)) return "shape";
  const image = Uint8Array.fromBase64(c);
  return { image, heatmap: o.heatmap === true, className: o.class as string | undefined };
}

Deno.test("parseScoreRequest: agrees with JSON.parse on 3000 generated and mutated bodies", () => {
  let seed = 2024;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)] as T; // rand(n) < n
  const good = {
    image: ['"AQID"', '"AQ\\/D"', '"AQ==\\n"', '"data:image/png;base64,AQI="', '"\\u0041QID"', '"A Q I D"'],
    heatmap: ["true", "false"],
    class: ['"Mass"', '"\\u004dass"', '"Hernia"'],
  };
  const values = [
    '"AQID"',
    '"AQ\\/D"',
    '"AQ==\\n"',
    '"data:image/png;base64,AQI="',
    '"Mass"',
    '"mass"',
    '""',
    "true",
    "false",
    "null",
    "12",
    "-0.5e3",
    "[]",
    "[1, [2]]",
    "{}",
    '{"a": 1}',
    '"\\u0041QID"',
    '"A Q I D"',
  ];
  const ws = ["", " ", "\n", "\t "];
  const counts = { ok: 0, invalid: 0, shape: 0 };
  const mutations = ["{", "}", "[", "]", '"', ",", ":", "\\", "a", "0", " ", "=", "é"];
  for (let n = 0; n < 3000; n++) {
    const members: string[] = [];
    const fields: [string, number, string[]][] = [
      [pick(['"image"', '"\\u0069mage"']), 0.85, good.image],
      ['"heatmap"', 0.5, good.heatmap],
      ['"class"', 0.4, good.class],
      ['"x"', 0.1, values],
    ];
    for (const [key, p, likely] of fields) {
      if (rand(100) >= p * 100) continue;
      const value = rand(5) ? pick(likely) : pick(values);
      const at = rand(members.length + 1);
      members.splice(at, 0, `${pick(ws)}${key}${pick(ws)}:${pick(ws)}${value}${pick(ws)}`);
    }
    let text = `${pick(ws)}{${members.join(",")}}${pick(ws)}`;
    for (let k = rand(3) === 0 ? 1 + rand(2) : 0; k > 0; k--) {
      const at = rand(text.length + 1);
      text = rand(2)
        ? text.slice(0, at) + pick(mutations) + text.slice(at)
        : text.slice(0, at) + text.slice(at + 1);
    }
    const want = reference(text);
    let got: unknown;
    try {
      got = parseJson(text);
    } catch (e) {
      got = e; // a refusal, never deep-equal to a parsed request
    }
    counts[typeof want === "object" ? "ok" : want]++;
    if (typeof want === "object") {
      assert.deepEqual(got, want, text);
    } else {
      assert.ok(got instanceof ScoreHttpError && got.status === 400, `${text}: ${got}; reference: ${want}`);
    }
  }
  assert.ok(Object.values(counts).every((c) => c > 400), JSON.stringify(counts));
});
