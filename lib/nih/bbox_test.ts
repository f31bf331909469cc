import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { boxedPatients, parseBoundingBoxes, readBoundingBoxes } from "./bbox.ts";
import { GzipError, NihFormatError } from "./errors.ts";

const BBOX = join(NIH_SAMPLE, "BBox_List_2017.csv.gz");
const HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,";

Deno.test("the real box file: 984 boxes on 880 images of 726 patients, Infiltrate read as Infiltration", () => {
  const t = readBoundingBoxes(BBOX);
  assert.equal(t.boxes.length, 984);
  assert.equal(new Set(t.boxes.map((b) => b.image)).size, 880);
  assert.equal(boxedPatients(t.boxes).length, 726);
  const by = new Map<string, number>();
  for (const b of t.boxes) by.set(b.finding, (by.get(b.finding) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(by), {
    Atelectasis: 180,
    Effusion: 153,
    Cardiomegaly: 146,
    Infiltration: 123,
    Pneumonia: 120,
    Pneumothorax: 98,
    Mass: 85,
    Nodule: 79,
  });
  assert.deepEqual(t.boxes[0], {
    image: "00013118_008.png",
    patientId: 13118,
    finding: "Atelectasis",
    x: 225.084745762712,
    y: 547.019216763771,
    w: 86.7796610169491,
    h: 79.1864406779661,
  });
});

Deno.test("plain text parses too; a truncated gzip is a GzipError", () => {
  using dir = tempDir();
  writeFileSync(join(dir.path, "b.csv"), `${HEADER}\r\n00000001_000.png,Nodule,1,2,3,4\r\n`);
  assert.equal(readBoundingBoxes(join(dir.path, "b.csv")).boxes[0]?.finding, "Nodule");
  const gz = readFileSync(BBOX);
  writeFileSync(join(dir.path, "b.csv.gz"), gz.subarray(0, 1000));
  assert.throws(() => readBoundingBoxes(join(dir.path, "b.csv.gz")), GzipError);
});

Deno.test("malformed box files are errors with line and column", () => {
  const at = (text: string, line: number, column: number, re: RegExp) =>
    assert.throws(() => parseBoundingBoxes(text), (e: NihFormatError) => {
      assert.ok(e instanceof NihFormatError);
      assert.deepEqual([e.line, e.column], [line, column], e.message);
      assert.match(e.message, re);
      return true;
    });
  at("Image Index,Label,Bbox [x,y,w,h]\n", 1, 13, /header field 2 must be "Finding Label"/);
  at(`${HEADER},x\n`, 1, 45, /header field 10 must be empty/);
  at(`${HEADER}\n00000001_000.png,Nodule,1,2,3\n`, 2, 30, /expected 6 fields, found 5/);
  at(`${HEADER}\n00000001_000.png,Nodule,1,2,3,4,5\n`, 2, 33, /expected 6 fields, found 7/);
  const flu = `${HEADER}\n00000001_000.png,Flu,1,2,3,4\n`;
  at(flu, 2, 18, /unknown finding "Flu"; valid findings: Atelectasis/);
  at(`${HEADER}\n00000001_000.png,Mass,1,2,x,4\n`, 2, 27, /expected a number, found "x"/);
});
