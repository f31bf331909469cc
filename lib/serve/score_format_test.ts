import assert from "node:assert/strict";
import { FINDINGS } from "../nih/mod.ts";
import {
  decodeBase64,
  encodeBase64,
  parseScoreRequest,
  parseScoreResponse,
  ScoreFormatError,
  ScoreHttpError,
  ScoringServiceError,
} from "./score_format.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

function httpError(fn: () => unknown): ScoreHttpError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ScoreHttpError, `expected ScoreHttpError, got ${e}`);
    return e;
  }
  assert.fail("did not throw");
}

Deno.test("parseScoreRequest: raw PNG and JPEG bodies with query options", () => {
  assert.deepEqual(parseScoreRequest(PNG, "image/png"), { image: PNG, heatmap: false, className: undefined });
  const q = new URLSearchParams("heatmap=true&class=Pleural_Thickening");
  assert.deepEqual(parseScoreRequest(PNG, "Image/JPEG; foo=bar", { query: q }), {
    image: PNG,
    heatmap: true,
    className: "Pleural_Thickening",
  });
  assert.equal(
    parseScoreRequest(PNG, "image/png", { query: new URLSearchParams("heatmap=0") }).heatmap,
    false,
  );
  const bad = httpError(() =>
    parseScoreRequest(PNG, "image/png", { query: new URLSearchParams("heatmap=maybe") })
  );
  assert.equal(bad.status, 400);
  assert.match(bad.message, /heatmap="maybe" must be 1 or 0/);
  const unknown = httpError(() =>
    parseScoreRequest(PNG, "image/png", { query: new URLSearchParams("class=Flu") })
  );
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
  const b64 = encodeBase64(PNG);
  const ok = parseScoreRequest(
    enc(`{"image": "${b64}", "heatmap": true, "class": "Mass"}`),
    "application/json",
  );
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
    const e = httpError(() => parseScoreRequest(enc(body), "application/json"));
    assert.equal(e.status, 400, body);
    assert.match(e.message, pattern, body);
    if (!/Unknown finding/.test(e.message)) {
      assert.ok(e.cause instanceof ScoreFormatError, body);
      assert.equal(e.cause.source, "request body");
    }
  }
});

Deno.test("parseScoreRequest: other class lists", () => {
  const r = parseScoreRequest(PNG, "image/png", {
    query: new URLSearchParams("class=b"),
    classNames: ["a", "b"],
  });
  assert.equal(r.className, "b");
  assert.throws(
    () =>
      parseScoreRequest(PNG, "image/png", { query: new URLSearchParams("class=Mass"), classNames: ["a"] }),
    /valid: a$/,
  );
});

Deno.test("decodeBase64/encodeBase64 round trip, whitespace and data URLs", () => {
  const bytes = new Uint8Array(1000).map((_, i) => (i * 37) & 255);
  const text = encodeBase64(bytes);
  assert.deepEqual(decodeBase64(text), bytes);
  assert.deepEqual(decodeBase64(text.replace(/(.{76})/g, "$1\n")), bytes);
  assert.deepEqual(decodeBase64("data:image/jpeg;base64," + text), bytes);
  assert.throws(() => decodeBase64("AQ=D"), /padding or length/);
  assert.throws(() => decodeBase64("-_-_"), /invalid base64 character "-" at offset 0/);
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
