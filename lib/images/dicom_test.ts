import assert from "node:assert/strict";
import { DicomError, dicomToGrey, parseDicom } from "./dicom.ts";
import { isDicom } from "./sniff.ts";
import { writeDicom } from "./_dicom_testing.ts";
import { createRng } from "./augment.ts";

const IMPLICIT = "1.2.840.10008.1.2";
const EXPLICIT = "1.2.840.10008.1.2.1";

Deno.test("round trip: 8 and 16 bit, both VRs, with and without a sequence of undefined length", async () => {
  for (const transferSyntax of [IMPLICIT, EXPLICIT]) {
    for (const sequence of [false, true]) {
      const grey = new Uint8Array(12).map((_, i) => i * 20);
      const g = await parseDicom(writeDicom(grey, 4, 3, { transferSyntax, sequence }));
      assert.deepEqual([g.transferSyntax, g.columns, g.rows, g.bitsAllocated], [transferSyntax, 4, 3, 8]);
      assert.deepEqual([...g.pixels], [...grey]);
      const wide = new Uint16Array([0, 300, 65535, 12]);
      const w = await parseDicom(writeDicom(wide, 2, 2, { transferSyntax, sequence, bitsAllocated: 16 }));
      assert.deepEqual([...w.pixels], [...wide]);
      assert.equal(isDicom(writeDicom(grey, 4, 3, { transferSyntax })), true);
    }
  }
});

Deno.test("min-max without a window; MONOCHROME1 is inverted", async () => {
  const px = new Uint8Array([10, 20, 30, 40]);
  assert.deepEqual([...dicomToGrey(await parseDicom(writeDicom(px, 2, 2))).data], [0, 85, 170, 255]);
  const inv = await parseDicom(writeDicom(px, 2, 2, { photometric: "MONOCHROME1" }));
  assert.deepEqual([...dicomToGrey(inv).data], [255, 170, 85, 0]);
  const flat = await parseDicom(writeDicom(new Uint8Array([7, 7, 7, 7]), 2, 2));
  assert.deepEqual([...dicomToGrey(flat).data], [0, 0, 0, 0]);
});

Deno.test("window math by hand on a 2x2 image (c=150, w=201)", async () => {
  // bounds: x <= 149.5 - 100 = 49.5 -> 0; x > 249.5 -> 255; else ((x - 149.5) / 200 + 0.5) * 255
  const px = new Uint16Array([0, 100, 200, 300]);
  const image = await parseDicom(
    writeDicom(px, 2, 2, { bitsAllocated: 16, windowCenter: 150, windowWidth: 201 }),
  );
  assert.deepEqual([image.windowCenter, image.windowWidth], [150, 201]);
  // 100: (-49.5/200 + 0.5) * 255 = 64.39 -> 64; 200: (50.5/200 + 0.5) * 255 = 191.89 -> 192
  assert.deepEqual([...dicomToGrey(image).data], [0, 64, 192, 255]);
});

Deno.test("16 bit with rescale: values are rescaled before the window", async () => {
  // stored 1000..1003, slope 2, intercept -1024 -> 976, 978, 980, 982; window c=979.5 w=7
  // bounds: <= 979 - 3 = 976 -> 0; > 982 -> 255; 978: (-1/6 + 0.5)*255 = 85; 980: (1/6+0.5)*255 = 170
  const px = new Uint16Array([1000, 1001, 1002, 1003]);
  for (const transferSyntax of [IMPLICIT, EXPLICIT]) {
    const image = await parseDicom(writeDicom(px, 2, 2, {
      transferSyntax,
      bitsAllocated: 16,
      bitsStored: 12,
      rescaleSlope: 2,
      rescaleIntercept: -1024,
      windowCenter: 979.5,
      windowWidth: 7,
    }));
    assert.deepEqual([image.rescaleSlope, image.rescaleIntercept, image.bitsStored], [2, -1024, 12]);
    assert.deepEqual([...dicomToGrey(image).data], [0, 85, 170, 255]);
  }
});

Deno.test("refusals are DicomErrors that say what and where", async () => {
  const px = new Uint8Array([1, 2, 3, 4]);
  const cases: [Uint8Array, RegExp][] = [
    [new Uint8Array(50), /at byte 50: no "DICM" magic at offset 128/],
    [new Uint8Array(200), /no "DICM" magic/],
    [
      writeDicom(px, 2, 2, { transferSyntax: "1.2.840.10008.1.2.4.100" }),
      /transfer syntax 1\.2\.840\.10008\.1\.2\.4\.100 is not supported; supported: 1\.2\.840\.10008\.1\.2 \(implicit/,
    ],
    [
      writeDicom(px, 2, 2, { transferSyntax: "1.2.840.10008.1.2.4.50" }),
      /pixel data \(7FE0,0010\) of transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50 is not encapsulated/,
    ],
    [
      writeDicom(px, 2, 2, { transferSyntax: "1.2.840.10008.1.2.5" }),
      /1\.2\.840\.10008\.1\.2\.5 is not encapsulated/,
    ],
    [writeDicom(px, 2, 2, { transferSyntax: "1.2.840.10008.1.2.1.99" }), /malformed or truncated/],
    [writeDicom(px, 2, 2, { samplesPerPixel: 3 }), /SamplesPerPixel \(0028,0002\) is 3, not 1/],
    [writeDicom(px, 2, 2, { photometric: "RGB" }), /PhotometricInterpretation \(0028,0004\) is "RGB"/],
    [writeDicom(px, 2, 2, { bitsAllocated: 16, bitsStored: 17 }), /BitsStored \(0028,0101\) is 17/],
    [writeDicom(px, 2, 3), /pixel data \(7FE0,0010\) has 4 bytes, 2x3x1 needs 6/],
    [writeDicom(new Uint8Array(0), 10000, 10000), /10000x10000 pixels is more than the limit of 50000000/],
    [writeDicom(px, 2, 2).subarray(0, -4), /element \(7FE0,0010\) declares 4 bytes, only 0 left/],
  ];
  for (const [bytes, pattern] of cases) {
    await assert.rejects(
      parseDicom(bytes),
      (e) => e instanceof DicomError && pattern.test(e.message),
      String(pattern),
    );
  }
  const bad = writeDicom(px, 2, 2, { windowCenter: NaN, windowWidth: 2 });
  await assert.rejects(parseDicom(bad), /element \(0028,1050\) is not a number: "NaN"/);
});

Deno.test("fuzz: every truncation and random byte flips only ever throw DicomError", async () => {
  const rand = createRng(7);
  for (const transferSyntax of [IMPLICIT, EXPLICIT]) {
    const file = writeDicom(new Uint16Array(16).map((_, i) => i * 999), 4, 4, {
      transferSyntax,
      bitsAllocated: 16,
      windowCenter: 100,
      windowWidth: 50,
      sequence: true,
    });
    const check = async (bytes: Uint8Array) => {
      try {
        dicomToGrey(await parseDicom(bytes));
      } catch (e) {
        assert.ok(e instanceof DicomError, `${(e as Error).name}: ${(e as Error).message}`);
      }
    };
    for (let n = 0; n < file.length; n++) {
      await assert.rejects(parseDicom(file.subarray(0, n)), DicomError, `prefix ${n}`);
    }
    for (let round = 0; round < 3000; round++) {
      const copy = file.slice();
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) {
        copy[128 + Math.floor(rand() * (copy.length - 128))] = Math.floor(rand() * 256);
      }
      await check(copy);
    }
  }
});
