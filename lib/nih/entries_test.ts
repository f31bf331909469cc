import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { parseEntries, readEntries } from "./entries.ts";
import { GzipError, InputTooLargeError, NihFormatError } from "./errors.ts";
import { FINDINGS } from "./classes.ts";

const V2020 = join(NIH_SAMPLE, "Data_Entry_2017_v2020.csv.gz");
const EXCERPT = join(NIH_SAMPLE, "Data_Entry_2017_excerpt.csv");
const HEADER = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position," +
  "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]";
const ROW = "00000001_000.png,Cardiomegaly,0,1,58,M,PA,2682,2749,0.143,0.143";
/** A label file of the header and ROW with one change. */
const withRow = (from: string | RegExp, to: string) => `${HEADER}\n${ROW.replace(from, to)}\n`;

Deno.test("the full v2020 file: 112,120 images of 30,805 patients, patient id = name prefix", () => {
  const t = readEntries(V2020);
  assert.equal(t.variant, "v2020");
  assert.equal(t.file, "Data_Entry_2017_v2020.csv.gz");
  assert.equal(t.entries.length, 112120);
  assert.equal(new Set(t.entries.map((e) => e.patientId)).size, 30805);
  assert.equal(t.sha256, "9d4de640ee4f760215d8be98376b20387ca52f9c6b4d1b727cb588fb82f40b80");
  for (const e of t.entries) assert.equal(e.patientId, Number(e.image.slice(0, 8)));
  // v2020 renumbered Follow-up #: it differs from the name suffix for some images.
  assert.ok(t.entries.some((e) => e.followUp !== Number(e.image.slice(9, 12))));
  const last = t.entries.at(-1)!;
  assert.deepEqual({ ...last, labels: [...last.labels] }, {
    image: "00030805_000.png",
    labels: new Array(14).fill(0),
    followUp: 0,
    patientId: 30805,
    age: 26,
    gender: "M",
    view: "PA",
    width: 2048,
    height: 2500,
    spacingX: 0.171,
    spacingY: 0.171,
  });
});

Deno.test("label vectors agree with an independent count over the raw text", () => {
  const t = readEntries(V2020);
  const ours = new Array(14).fill(0);
  for (const e of t.entries) e.labels.forEach((v, i) => ours[i] += v);
  const theirs = new Map<string, number>();
  const lines = new TextDecoder().decode(gunzipSync(readFileSync(V2020))).trim().split("\n").slice(1);
  for (const line of lines) {
    for (const l of (line.split(",")[1] ?? "").split("|")) theirs.set(l, (theirs.get(l) ?? 0) + 1);
  }
  assert.deepEqual(ours, FINDINGS.map((f) => theirs.get(f) ?? 0));
  // Figures of the published v2020 file.
  assert.equal(theirs.get("No Finding"), 60361);
  assert.equal(ours[FINDINGS.indexOf("Infiltration")], 19894);
  assert.equal(ours[FINDINGS.indexOf("Hernia")], 227);
});

Deno.test("the 2017 excerpt: CRLF, trailing header comma, integer ages, spacing 0.143", () => {
  const t = readEntries(EXCERPT);
  assert.equal(t.variant, "2017");
  assert.equal(t.entries.length, 26);
  assert.equal(t.entries[0]?.age, 58);
  assert.equal(t.entries[0]?.spacingX, 0.143);
  assert.equal(t.entries.at(-1)!.image, "00000033_000.png");
  assert.deepEqual(
    [...t.entries.at(-1)!.labels],
    FINDINGS.map((f) => ["Atelectasis", "Cardiomegaly", "Fibrosis"].includes(f) ? 1 : 0),
  );
});

Deno.test("gzip is detected by magic bytes, not by name; a truncated gzip names the file", () => {
  using dir = tempDir();
  const gz = gzipSync(`${HEADER}\n${ROW}\n`);
  writeFileSync(join(dir.path, "labels.csv"), gz);
  assert.equal(readEntries(join(dir.path, "labels.csv")).entries.length, 1);
  const full = readFileSync(V2020);
  writeFileSync(join(dir.path, "cut.csv.gz"), full.subarray(0, full.length >> 1));
  assert.throws(() => readEntries(join(dir.path, "cut.csv.gz")), (e: GzipError) => {
    assert.ok(e instanceof GzipError);
    assert.equal(e.file, "cut.csv.gz");
    assert.match(e.message, /Cannot decompress "cut.csv.gz": the gzip stream is truncated/);
    return true;
  });
});

function formatError(text: string, line: number, column: number, message: RegExp): void {
  assert.throws(() => parseEntries(text, { file: "Data_Entry_2017.csv" }), (e: NihFormatError) => {
    assert.ok(e instanceof NihFormatError && e instanceof SyntaxError, String(e));
    assert.equal(e.file, "Data_Entry_2017.csv");
    assert.deepEqual([e.line, e.column], [line, column], e.message);
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("a wrong header says which column", () => {
  const age = HEADER.replace("Patient Age", "Age");
  formatError(`${age}\n${ROW}`, 1, 51, /header column 5 must be "Patient Age", found "Age"/);
  formatError(HEADER.split(",").slice(0, 9).join(",") + "\n", 1, 119, /header column 10 must be/);
  formatError(HEADER + ",extra\n", 1, 151, /header has 12 fields, expected 11/);
  formatError("", 1, 1, /not a Data_Entry_2017 label file/);
});

Deno.test("a file that is not a label file: the message says where, never what its first line holds", () => {
  using dir = tempDir();
  const secret = "AZURE_STORAGE_KEY=c2VjcmV0LWtleS1kby1ub3QtcHJpbnQ=";
  const files = [[".env", `${secret}\nOTHER=1\n`], ["notes.csv", `${secret},a,b\n${ROW}\n`]] as const;
  for (const [name, text] of files) {
    writeFileSync(join(dir.path, name), text);
    assert.throws(() => readEntries(join(dir.path, name)), (e: unknown) => {
      assert.ok(e instanceof NihFormatError, String(e));
      assert.equal(
        e.message,
        `Cannot read "${name}" at line 1, column 1: not a Data_Entry_2017 label file: its header must start ` +
          'with "Image Index,Finding Labels,Follow-up #"',
      );
      assert.ok(!e.message.includes("c2VjcmV0"));
      return true;
    });
  }
  // In a label file, what is quoted is cut short and escaped.
  const binary = `${HEADER}\n${"\u0001".repeat(10_000)}${ROW.slice(16)}\n`;
  formatError(binary, 2, 1, /must be a name like 00000001_000\.png, found "(\\u0001){40}…"$/);
});

Deno.test("a label file is read up to 64 MiB: /dev/zero and a gzip bomb are refused, not read without end", () => {
  using dir = tempDir();
  const started = performance.now();
  assert.throws(() => readEntries("/dev/zero"), (e: unknown) => {
    assert.ok(e instanceof InputTooLargeError, String(e));
    assert.equal(e.file, "zero");
    assert.equal(
      e.message,
      'Cannot read "zero": it is larger than 64 MiB, more than any NIH label or list file; is it the right file?',
    );
    return true;
  });
  assert.ok(performance.now() - started < 10_000);
  // 80 MiB of commas compress to about 80 KB.
  writeFileSync(join(dir.path, "bomb.csv.gz"), gzipSync(new Uint8Array(80 * 1024 * 1024).fill(44)));
  assert.throws(
    () => readEntries(join(dir.path, "bomb.csv.gz")),
    /Cannot read "bomb\.csv\.gz": it decompresses to more than 64 MiB/,
  );
});

Deno.test("an unknown label names the line, the column of the label and the valid labels", () => {
  const flu = ROW.replace("_000", "_001").replace("Cardiomegaly", "Mass|Flu");
  formatError(`${HEADER}\n${ROW}\n${flu}\n`, 3, 23, /unknown label "Flu"; valid labels: Atelectasis,/);
  formatError(withRow("Cardiomegaly", "No Finding|Mass"), 2, 18, /"No Finding" combined/);
});

Deno.test("a duplicated image name is an error pointing at both lines", () => {
  const twice = `${HEADER}\r\n${ROW}\r\n${ROW}\r\n`;
  formatError(twice, 3, 1, /duplicated image "00000001_000.png" \(first at line 2\)/);
});

Deno.test("a wrong field count is an error, never a skipped row", () => {
  const short = "00000001_001.png,Mass,1,1,58,M,PA,2682,2749";
  formatError(`${HEADER}\n${ROW}\n${short}\n`, 3, 44, /expected 11 fields, found 9/);
  formatError(`${HEADER}\n${ROW},x\n`, 2, 65, /expected 11 fields, found 12/);
  formatError(`${HEADER}\n\n${ROW}\n`, 2, 1, /expected 11 fields, found 1/);
});

Deno.test("bad values: age, gender, view, image name, patient id, spacing", () => {
  for (
    const [from, to, column, message] of [
      [",58,", ",58Y,", 35, /"Patient Age" must be an integer, found "58Y"/],
      [",M,", ",X,", 38, /"Patient Gender" must be "M" or "F", found "X"/],
      [",PA,", ",LL,", 40, /"View Position" must be "PA" or "AP"/],
      ["00000001_000", "0001_000", 1, /must be a name like 00000001_000.png, found "0001_000.png"/],
      [",0,1,", ",0,2,", 33, /"Patient ID" 2 differs from the patient prefix of "00000001_000.png"/],
      [/0\.143$/, "abc", 59, /"OriginalImagePixelSpacing\[y\]" must be a number, found "abc"/],
    ] as const
  ) formatError(withRow(from, to), 2, column, message);
});
