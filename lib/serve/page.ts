/**
 * The scoring service's upload page (`GET /`): one self-contained HTML document (no CDN, no external file)
 * where a person enters the key, picks an X-ray and sees the 14 probabilities as bars and the heatmap over
 * the image. It posts the raw file to `/score?heatmap=1`.
 *
 * It runs under a strict Content-Security-Policy ({@linkcode SCORING_PAGE_CSP}): its inline script and style
 * are allowed by SHA-256 hashes computed here from the very text served, so they cannot drift.
 *
 * @module
 */
import { createHash } from "node:crypto";

const STYLE = `
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 980px; color: #1d2630; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  form { display: flex; gap: .8rem; flex-wrap: wrap; align-items: end; margin: 1rem 0; }
  label { display: flex; flex-direction: column; font-size: .85rem; gap: .2rem; }
  input[type=password] { padding: .35rem; width: 16rem; }
  button { padding: .45rem 1.2rem; font-size: 1rem; cursor: pointer; }
  #status { min-height: 1.4rem; color: #555; }
  #status.error { color: #b00020; }
  main { display: grid; grid-template-columns: minmax(260px, 1fr) minmax(260px, 1fr); gap: 1.5rem; }
  .images { display: flex; flex-direction: column; gap: .5rem; }
  .images img { max-width: 100%; border-radius: 4px; background: #000; }
  .bar { display: grid; grid-template-columns: 9.5rem 1fr 3.5rem; align-items: center; gap: .5rem; margin: 3px 0; }
  .bar .track { background: #e8edf2; height: 14px; border-radius: 3px; overflow: hidden; }
  .bar .fill { background: #2f6fb0; height: 100%; }
  .bar.top .fill { background: #d9480f; }
  .bar .value { text-align: right; font-variant-numeric: tabular-nums; }
  .small { color: #666; font-size: .8rem; }
`;

const SCRIPT = `
"use strict";
const $ = (id) => document.getElementById(id);
function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}
function showBars(result) {
  const bars = $("bars");
  bars.replaceChildren();
  for (const [name, p] of Object.entries(result.probabilities)) {
    const row = document.createElement("div");
    row.className = "bar" + (name === result.top.class ? " top" : "");
    row.dataset.finding = name;
    const label = document.createElement("span");
    label.textContent = name.replace(/_/g, " ");
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = (100 * p).toFixed(1) + "%";
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = (100 * p).toFixed(1) + "%";
    row.append(label, track, value);
    bars.append(row);
  }
}
$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = $("file").files[0];
  if (!file) return setStatus("Pick an image first.", true);
  $("xray").src = URL.createObjectURL(file);
  $("xray").hidden = false;
  setStatus("Scoring " + file.name + " ...");
  const headers = { "content-type": file.type === "image/jpeg" ? "image/jpeg" : "image/png" };
  const key = $("key").value.trim();
  if (key) headers.authorization = "Bearer " + key;
  try {
    const res = await fetch("score?heatmap=1", { method: "POST", headers, body: file });
    const body = await res.json();
    if (!res.ok) return setStatus("Error " + res.status + ": " + body.error.message, true);
    showBars(body);
    if (body.heatmap) {
      $("heatmap").src = "data:image/png;base64," + body.heatmap;
      $("heatmap").hidden = false;
    }
    $("model").textContent = "Model " + body.model.name + " " + body.model.version +
      (body.heatmapClass ? "; heatmap for " + body.heatmapClass.replace(/_/g, " ") : "");
    setStatus("Top finding: " + body.top.class.replace(/_/g, " ") + " (" + (100 * body.top.probability).toFixed(1) + "%)");
  } catch (e) {
    setStatus("Request failed: " + e.message, true);
  }
});
`;

/**
 * The page's HTML. Element ids used by the browser test: `key`, `file`, `submit`, `status`, `bars`
 * (one `.bar` row per finding), `xray`, `heatmap`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(SCORING_PAGE_HTML, /<input id="file" type="file"/);
 * assert.ok(!/https?:\/\//.test(SCORING_PAGE_HTML)); // nothing fetched from elsewhere
 * ```
 */
export const SCORING_PAGE_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chest X-ray scoring</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Chest X-ray scoring</h1>
<div class="small">DenseNet-121, 14 ChestX-ray14 findings. Not a diagnosis.</div>
<form id="form">
  <label>Key <input id="key" type="password" autocomplete="off" placeholder="scoring key"></label>
  <label>X-ray (PNG or JPEG) <input id="file" type="file" accept="image/png,image/jpeg,.dcm,application/dicom"></label>
  <button id="submit" type="submit">Score</button>
</form>
<div id="status"></div>
<main>
  <div id="bars"></div>
  <div class="images">
    <img id="heatmap" alt="heatmap over the X-ray" hidden>
    <img id="xray" alt="the X-ray" hidden>
    <div id="model" class="small"></div>
  </div>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;

function hash(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/**
 * The Content-Security-Policy of the page and of every other answer: nothing but the page's own script and
 * style (by hash), images from `blob:` (the X-ray picked) and `data:` (the heatmap), requests to the service
 * itself; no framing by any site (clickjacking).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.match(SCORING_PAGE_CSP, /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+\/]{43}='; /);
 * assert.match(SCORING_PAGE_CSP, /frame-ancestors 'none'/);
 * assert.ok(!SCORING_PAGE_CSP.includes("unsafe-inline"));
 * ```
 */
export const SCORING_PAGE_CSP: string = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "img-src blob: data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Options of {@linkcode securityHeaders}. */
export interface SecurityHeadersOptions {
  /**
   * The answer travels over TLS: add `Strict-Transport-Security` (one year) so browsers never try plain
   * HTTP on this host again. Only sent over HTTPS; browsers ignore it over HTTP. @default false
   */
  hsts?: boolean;
}

/**
 * The security headers the service puts on every answer, names in lower case: {@linkcode SCORING_PAGE_CSP},
 * `nosniff` (a JSON or Markdown answer is never sniffed into HTML), no referrer, `X-Frame-Options` (for
 * browsers older than frame-ancestors) and, with `hsts`, HSTS. `Cache-Control` is the handler's (per route).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const h = securityHeaders({ hsts: true });
 * assert.equal(h["x-content-type-options"], "nosniff");
 * assert.equal(h["strict-transport-security"], "max-age=31536000");
 * assert.equal(securityHeaders()["strict-transport-security"], undefined);
 * ```
 */
export function securityHeaders(options: SecurityHeadersOptions = {}): Record<string, string> {
  return {
    "content-security-policy": SCORING_PAGE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    ...(options.hsts ? { "strict-transport-security": "max-age=31536000" } : {}),
  };
}

/**
 * The page as an answer: the HTML with its content type and {@linkcode securityHeaders} (the CSP that lets
 * its script and style run and nothing else).
 *
 * @returns a new `Response` each call (a body can be read once).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const res = scoringPageResponse();
 * assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
 * assert.equal(res.headers.get("content-security-policy"), SCORING_PAGE_CSP);
 * assert.equal(res.headers.get("x-content-type-options"), "nosniff");
 * assert.equal(await res.text(), SCORING_PAGE_HTML);
 * ```
 */
export function scoringPageResponse(): Response {
  return new Response(SCORING_PAGE_HTML, {
    headers: { "content-type": "text/html; charset=utf-8", ...securityHeaders() },
  });
}
