import assert from "node:assert/strict";
import { parseBoundingBoxes } from "./bbox.ts";
import { parseBlacklist } from "./blacklist.ts";
import { parseSplitList } from "./split.ts";

// A file passed to the wrong option (a key file as --bbox, --blacklist or --lists) is refused saying where and
// what was expected, never quoting its first line; later lines of a file that is a list are quoted, cut short.

const KEY = "DefaultEndpointsProtocol=https;AccountKey=c2VjcmV0c2VjcmV0c2VjcmV0";

Deno.test("NIH readers never quote the first line of a file that is not theirs", () => {
  for (const parse of [parseBoundingBoxes, parseBlacklist, parseSplitList]) {
    assert.throws(() => parse(`${KEY}\n`, { file: "secret.env" }), (e: Error) => {
      assert.match(e.message, /secret\.env.*line 1/);
      assert.ok(!e.message.includes("AccountKey") && !e.message.includes("c2VjcmV0"), e.message);
      return true;
    });
  }
});

Deno.test("NIH readers quote a bad later line, cut at 40 characters", () => {
  const long = "x".repeat(60);
  assert.throws(
    () => parseSplitList(`00000001_000.png\n${long}\n`, { file: "test_list.txt" }),
    /line 2, column 1: expected an image name like 00000001_000.png, found "x{40}…"/,
  );
  assert.throws(
    () => parseBlacklist(`00000001_000.png\nnot-an-image\n`, { file: "blacklist.txt" }),
    /line 2.*found "not-an-image"/,
  );
  assert.throws(
    () => parseBoundingBoxes("Image Index,Finding Labels,Bbox [x,y,w,h]\n", { file: "BBox_List_2017.csv" }),
    /header field 2 must be "Finding Label", found "Finding Labels"/,
  );
});
