/**
 * parseDicom on real scanner files: pydicom's test files (Debian's python3-pydicom, installed by
 * scripts/setup.sh for tests) and two JPEG lossless files in tests/fixtures/dicom/, made from pydicom's MR_small.dcm
 * with dcmtk 3.6.7 (`dcmcjpeg --encode-lossless-sv1` and `dcmcjpeg --encode-lossless --selection-value 6`).
 * Lossless syntaxes must give MR_small.dcm's pixels exactly; lossy JPEG 2000 is compared with pydicom's own
 * decode (Pillow's OpenJPEG) within 1 stored value (it is exact today); baseline JPEG, which no pydicom file has
 * in grey, is wrapped from sharp's encoder and compared with sharp's decode of the same stream within 1.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import sharp from "sharp";
import { DicomError, type DicomImage, dicomToGrey, parseDicom } from "./dicom.ts";
import { PYDICOM_FILES, writeDicom } from "./_dicom_testing.ts";
import { createRng } from "./augment.ts";

const SYSTEM_PYTHON = "/usr/bin/python3";
const FIXTURES = new URL("../../tests/fixtures/dicom/", import.meta.url).pathname;
const missing = existsSync(`${PYDICOM_FILES}/MR_small.dcm`)
  ? null
  : `no ${PYDICOM_FILES} (apt-get install -y python3-pydicom; scripts/setup.sh installs it for tests)`;
const read = (name: string) => parseDicom(Deno.readFileSync(`${PYDICOM_FILES}/${name}`));

/** pydicom's `pixel_array` of a file, as 32-bit integers. */
function pydicomPixels(name: string): Int32Array {
  const script = "import sys, pydicom; " +
    "sys.stdout.buffer.write(pydicom.dcmread(sys.argv[1]).pixel_array.astype('<i4').tobytes())";
  const out = new Deno.Command(SYSTEM_PYTHON, { args: ["-c", script, `${PYDICOM_FILES}/${name}`] })
    .outputSync();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new Int32Array(out.stdout.slice().buffer);
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let most = 0;
  for (let i = 0; i < a.length; i++) most = Math.max(most, Math.abs(a[i]! - b[i]!)); // same length (asserted)
  return most;
}

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name: missing ? `${name}: skipped, ${missing}` : name, ignore: missing !== null, fn });

test("every lossless transfer syntax gives MR_small.dcm's pixels exactly", async () => {
  const reference = await read("MR_small.dcm");
  const { rows, columns, bitsStored, pixelRepresentation } = reference;
  assert.deepEqual([rows, columns, bitsStored, pixelRepresentation], [64, 64, 16, 1]);
  const cases: [string, Promise<DicomImage>][] = [
    ["1.2.840.10008.1.2", read("MR_small_implicit.dcm")],
    ["1.2.840.10008.1.2.2", read("MR_small_bigendian.dcm")],
    ["1.2.840.10008.1.2.2", read("MR_small_expb.dcm")],
    ["1.2.840.10008.1.2.5", read("MR_small_RLE.dcm")],
    ["1.2.840.10008.1.2.4.80", read("MR_small_jpeg_ls_lossless.dcm")],
    ["1.2.840.10008.1.2.4.90", read("MR_small_jp2klossless.dcm")],
    ["1.2.840.10008.1.2.4.70", parseDicom(Deno.readFileSync(`${FIXTURES}/MR_small_jpeg_lossless_sv1.dcm`))],
    ["1.2.840.10008.1.2.4.57", parseDicom(Deno.readFileSync(`${FIXTURES}/MR_small_jpeg_lossless_sel6.dcm`))],
  ];
  for (const [syntax, image] of cases) {
    const got = await image;
    assert.equal(got.transferSyntax, syntax);
    assert.deepEqual(got.pixels, reference.pixels, syntax);
    assert.deepEqual(dicomToGrey(got), dicomToGrey(reference), syntax);
  }
});

test("CT_small.dcm, deflated image_dfl.dcm and signed JPEG 2000 equal pydicom's decode", async () => {
  for (const name of ["CT_small.dcm", "image_dfl.dcm", "J2K_pixelrep_mismatch.dcm"]) {
    assert.equal(maxDifference((await read(name)).pixels, pydicomPixels(name)), 0, name);
  }
  const ct = await read("CT_small.dcm");
  assert.deepEqual([ct.rescaleSlope, ct.rescaleIntercept, ct.pixelRepresentation], [1, -1024, 1]);
});

test("lossy JPEG 2000 (JPEG2000.dcm, 693_J2KI.dcm) within 1 of pydicom's decode", async () => {
  for (const name of ["JPEG2000.dcm", "693_J2KI.dcm"]) {
    const image = await read(name);
    assert.equal(image.transferSyntax, "1.2.840.10008.1.2.4.91");
    assert.ok(maxDifference(image.pixels, pydicomPixels(name)) <= 1, name);
  }
});

test("baseline JPEG (8-bit grey, lossy) within 1 of sharp's decode of the same stream", async () => {
  const width = 48, height = 40;
  const grey = new Uint8Array(width * height).map((_, i) => (i % width) * 5 + Math.floor(i / width) % 7);
  const jpeg = await sharp(grey, { raw: { width, height, channels: 1 } }).toColourspace("b-w").jpeg({
    quality: 80,
  }).toBuffer();
  const reference = await sharp(jpeg).extractChannel(0).raw().toBuffer();
  const image = await parseDicom(writeDicom(new Uint8Array(0), width, height, {
    transferSyntax: "1.2.840.10008.1.2.4.50",
    fragments: [jpeg.subarray(0, 100), jpeg.subarray(100)], // a frame in two fragments
  }));
  assert.ok(maxDifference(image.pixels, reference) <= 1);
});

test("refused: 12-bit JPEG, a stream larger than its header, truncated files; limits before decoding", async () => {
  await assert.rejects(
    read("JPEG-lossy.dcm"),
    /a 12-bit JPEG \(transfer syntax 1\.2\.840\.10008\.1\.2\.4\.51\) is not supported/,
  );
  // its JPEG 2000 stream claims 3722445056 x 1024 pixels: refused from the stream's header, nothing allocated
  await assert.rejects(
    read("JPEG2000-embedded-sequence-delimiter.dcm"),
    /the compressed stream is 3722445056x1024, the header says 256x1024/,
  );
  await assert.rejects(
    read("MR_truncated.dcm"),
    /at byte 1500: element \(7FE0,0010\) declares 8192 bytes, only 8130 left \(the file is truncated\)/,
  );
  await assert.rejects(read("SC_rgb_rle.dcm"), /SamplesPerPixel \(0028,0002\) is 3, not 1/);
  await assert.rejects(parseDicom(Deno.readFileSync(`${PYDICOM_FILES}/JPEG2000.dcm`), { maxPixels: 1000 }), {
    name: "DecodeError",
    reason: "it is 256x1024 pixels, more than the limit of 1000 pixels",
  });
});

test("fuzz: byte flips in compressed files only ever throw DicomError", async () => {
  const rand = createRng(11);
  for (const name of ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"]) {
    const file = Deno.readFileSync(`${PYDICOM_FILES}/${name}`);
    for (let round = 0; round < 150; round++) {
      const copy = file.slice();
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) {
        copy[128 + Math.floor(rand() * (copy.length - 128))] = Math.floor(rand() * 256);
      }
      try {
        dicomToGrey(await parseDicom(copy));
      } catch (e) {
        assert.ok(e instanceof DicomError, `${name}: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  }
  assert.deepEqual((await read("MR_small_RLE.dcm")).pixels, (await read("MR_small.dcm")).pixels); // still decodes
});
