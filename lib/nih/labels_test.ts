import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { NIH_SAMPLE } from "../../tests/_fixtures.ts";
import { JUPYTER_DISPLAY } from "../display.ts";
import { readEntries } from "./entries.ts";
import { readBoundingBoxes } from "./bbox.ts";
import { FINDINGS, NO_FINDING } from "./classes.ts";
import { seedSplit } from "./split.ts";
import { PARTITIONS, SplitError } from "./split_file.ts";
import { labelChartSvg, labelStatistics } from "./labels.ts";

const V2020 = join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz");

Deno.test("label counts of the full file match an independent pass over the raw CSV", () => {
  const stats = labelStatistics(readEntries(V2020).entries);
  const raw = new TextDecoder().decode(gunzipSync(readFileSync(V2020))).trim().split("\n").slice(1);
  const counts = new Map<string, number>();
  const patients = new Set<string>();
  for (const line of raw) {
    const [, labels = "", , patient = ""] = line.split(",");
    patients.add(patient);
    for (const l of labels.split("|")) counts.set(l, (counts.get(l) ?? 0) + 1);
  }
  assert.equal(stats.images, 112120);
  assert.equal(stats.images, raw.length);
  assert.equal(stats.patients, 30805);
  assert.equal(stats.patients, patients.size);
  for (const name of [...FINDINGS, NO_FINDING]) assert.equal(stats.counts[name], counts.get(name), name);
  assert.deepEqual(Object.keys(stats.counts), [...FINDINGS, NO_FINDING]);
  assert.equal(stats.counts.Effusion, 13317);
  assert.equal(stats.counts.Pleural_Thickening, 3385);
  assert.equal(stats.partitions, undefined);
});

Deno.test("per-partition counts add up to the whole for the seed split", () => {
  const table = readEntries(V2020);
  const { split } = seedSplit(table, readBoundingBoxes(join(NIH_SAMPLE, "BBox_List_2017.csv.gz")));
  const stats = labelStatistics(table.entries, { split });
  const parts = stats.partitions!;
  assert.deepEqual(PARTITIONS.map((p) => parts[p].patients), [21563, 3081, 6161]);
  assert.deepEqual(PARTITIONS.map((p) => parts[p].images), [69217, 9600, 33303]);
  for (const name of [...FINDINGS, NO_FINDING]) {
    assert.equal(PARTITIONS.reduce((n, p) => n + parts[p].counts[name], 0), stats.counts[name], name);
  }
  const json = JSON.parse(JSON.stringify(stats));
  assert.deepEqual(Object.keys(json), ["images", "patients", "counts", "partitions"]);
  assert.equal(json.partitions.val.counts.Hernia, parts.val.counts.Hernia);
  const text = stats.toText();
  assert.match(text.split("\n")[0] ?? "", /all\s+train\s+val\s+test$/);
  assert.match(text, /^Hernia\s+227 \(0\.2%\)/m);
});

Deno.test("a split naming images the entries lack is a SplitError", () => {
  const z = new Array(14).fill(0);
  assert.throws(
    () =>
      labelStatistics([{ image: "00000001_000.png", patientId: 1, labels: z }], {
        split: { images: { train: ["00000001_000.png"], val: ["00000002_000.png"], test: [] } },
      }),
    (e: SplitError) =>
      e instanceof SplitError && /1 images of the split's val partition.*00000002_000.png/.test(e.message),
  );
});

Deno.test("the Jupyter bundle holds an escaped HTML table and the SVG chart", () => {
  const stats = labelStatistics(readEntries(join(NIH_SAMPLE, "Data_Entry_2017_excerpt.csv")).entries);
  const bundle = (stats as unknown as { [JUPYTER_DISPLAY](): { "text/html": string; "text/plain": string } })
    [JUPYTER_DISPLAY]();
  assert.deepEqual(Object.keys(bundle).sort(), ["text/html", "text/plain"]);
  assert.equal((bundle["text/html"].match(/<tr>/g) ?? []).length, 1 + 2 + 15);
  assert.match(bundle["text/html"], /<svg /);
  assert.equal(bundle["text/plain"], stats.toText());
  assert.match(bundle["text/plain"], /^images\s+26$/m);
});

Deno.test("the SVG chart scales bars to the largest count and escapes names", () => {
  const svg = labelChartSvg({ "A<B": 50, C: 100, D: 0 }, { width: 400, title: "T&T", sort: false });
  assert.ok(svg.includes("A&lt;B") && svg.includes("T&amp;T") && !svg.includes("A<B"));
  const widths = [...svg.matchAll(/<rect [^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.equal(widths.length, 3);
  assert.equal((widths[0] ?? NaN) * 2, widths[1]);
  assert.equal(widths[2], 0);
  assert.equal(widths[1], 400 - 150 - 70);
  assert.match(svg, /<\/svg>$/);
});
