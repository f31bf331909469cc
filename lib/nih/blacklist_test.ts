import assert from "node:assert/strict";
import { join } from "node:path";
import { NIH_SAMPLE } from "../../tests/_fixtures.ts";
import { applyBlacklist, parseBlacklist } from "./blacklist.ts";
import { readEntries } from "./entries.ts";
import { NihFormatError } from "./errors.ts";

Deno.test("blacklisted images leave the real entries; unknown names are reported, not fatal", () => {
  const t = readEntries(join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz"));
  const b = parseBlacklist(
    "# known bad\r\n00000001_000.png\r\n\r\n00030805_000.png # last\r\n00099999_000.png\r\n",
  );
  const r = applyBlacklist(t.entries, b.images);
  assert.equal(r.kept.length, 112118);
  assert.deepEqual(r.removed, ["00000001_000.png", "00030805_000.png"]);
  assert.deepEqual(r.unknown, ["00099999_000.png"]);
  assert.ok(!r.kept.some((e) => e.image === "00000001_000.png"));
});

Deno.test("a line that is not an image name is an error with its position", () => {
  assert.throws(
    () => parseBlacklist("00000001_000.png\n  00000001_000.jpg # wrong\n", { file: "bl.txt" }),
    (e: NihFormatError) => {
      assert.ok(e instanceof NihFormatError);
      assert.deepEqual([e.file, e.line, e.column], ["bl.txt", 2, 3]);
      return true;
    },
  );
});
