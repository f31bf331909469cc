import assert from "node:assert/strict";
import {
  base64,
  escapeHtml,
  htmlTable,
  JUPYTER_DISPLAY,
  svgOpen,
  textTable,
  withDisplay,
} from "./display.ts";

Deno.test("escapeHtml escapes every special character, each exactly once", () => {
  assert.equal(escapeHtml("&"), "&amp;");
  assert.equal(escapeHtml("<"), "&lt;");
  assert.equal(escapeHtml(">"), "&gt;");
  assert.equal(escapeHtml('"'), "&quot;");
  assert.equal(escapeHtml("'"), "&#39;");
  assert.equal(escapeHtml("&lt;"), "&amp;lt;");
  assert.equal(escapeHtml("Pleural_Thickening 0.81 – ok"), "Pleural_Thickening 0.81 – ok");
  assert.equal(escapeHtml(""), "");
});

Deno.test("escapeHtml output parses as XML with the original text", () => {
  const text = `<script>alert("x" & 'y')</script>`;
  const escaped = escapeHtml(text);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg"><text title="${escaped}">${escaped}</text></svg>`;
  assert.ok(!svg.slice(svg.indexOf("<text"), svg.indexOf("</text>")).includes("<script"));
  const decoded = escapeHtml(text).replace(
    /&(amp|lt|gt|quot|#39);/g,
    (_, e) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" })[e as string]!,
  );
  assert.equal(decoded, text);
});

Deno.test("withDisplay adds a display that JSON, keys and spreading do not see", () => {
  const value = withDisplay({ a: 1 }, () => ({ "text/plain": "one" }));
  assert.deepEqual(Object.keys(value), ["a"]);
  assert.deepEqual({ ...value }, { a: 1 });
  assert.equal(JSON.stringify(value), '{"a":1}');
  assert.deepEqual((value as unknown as Record<symbol, () => unknown>)[Symbol.for("Jupyter.display")]?.(), {
    "text/plain": "one",
  });
  assert.equal(Object.getOwnPropertyDescriptor(value, JUPYTER_DISPLAY)?.enumerable, false);
});

Deno.test("htmlTable escapes head, string cells, text cells and the caption, but not html cells", () => {
  const html = htmlTable(["<h>"], [["<c>"], [{ text: "<t>" }], [{ html: "<i>x</i>" }]], { caption: "<cap>" });
  assert.equal(
    html,
    "<table><thead><tr><th>&lt;h&gt;</th></tr></thead><tbody><tr><td>&lt;c&gt;</td></tr>" +
      "<tr><td>&lt;t&gt;</td></tr><tr><td><i>x</i></td></tr></tbody><caption>&lt;cap&gt;</caption></table>",
  );
});

Deno.test("htmlTable: cellStyle styles string cells only; an empty body keeps its header, an empty header goes", () => {
  assert.equal(
    htmlTable(["a", "b"], [[{ text: "x" }, "1"]], { cellStyle: "text-align:right", className: "k" }),
    '<table class="k"><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>x</td>' +
      '<td style="text-align:right">1</td></tr></tbody></table>',
  );
  assert.equal(htmlTable(["a"], []), "<table><thead><tr><th>a</th></tr></thead><tbody></tbody></table>");
  assert.equal(htmlTable([], [["x"]]), "<table><tbody><tr><td>x</td></tr></tbody></table>");
});

Deno.test("svgOpen: the view box is optional, the font escaped", () => {
  assert.equal(
    svgOpen(10, 5, { viewBox: false, fontFamily: 'A "B"', fontSize: 12 }),
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="5" font-family="A &quot;B&quot;" font-size="12">',
  );
});

Deno.test("base64 matches Buffer for empty, small and large inputs", async () => {
  const { Buffer } = await import("node:buffer");
  for (const n of [0, 1, 2, 3, 100_000]) {
    const bytes = new Uint8Array(n).map((_, i) => (i * 7919) & 255);
    assert.equal(base64(bytes), Buffer.from(bytes).toString("base64"));
  }
});

Deno.test("textTable pads to the widest cell, aligns right on request and cuts trailing blanks", () => {
  assert.equal(textTable([]), "");
  assert.equal(textTable([["a", "bb"], ["ccc", ""]]), "a    bb\nccc");
  assert.equal(textTable([["x", "1"], ["y", "100"]], { align: ["left", "right"] }), "x    1\ny  100");
  assert.equal(textTable([["a", "b", "c"], ["d"]]), "a  b  c\nd");
});
