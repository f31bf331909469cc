import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { samplePngs } from "../../tests/_archive_server.ts";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { buildCache } from "./build_cache.ts";
import { decodeImage } from "./decode.ts";
import { writeDicom } from "./_dicom_testing.ts";
import { trainJob } from "./_testing.ts";

const SAMPLE = samplePngs()[0] ?? assert.fail(`no PNG in ${NIH_SAMPLE}/images`);

Deno.test("buildCache decodes only PNG, JPEG and DICOM by their magic bytes; an SVG or GIF named .png fails", async () => {
  using tmp = tempDir();
  const images = join(tmp.path, "images");
  mkdirSync(images);
  const names = [1, 2, 3, 4, 5, 6].map((i) => `0000000${i}_000.png`);
  const [png, jpeg, dicom, svg, gif, text] = names as [string, string, string, string, string, string];
  copyFileSync(join(NIH_SAMPLE, "images", SAMPLE), join(images, png));
  const grey = { width: 16, height: 16, channels: 1 as const };
  const pixels = new Uint8Array(256).map((_, i) => i);
  writeFileSync(join(images, jpeg), await sharp(pixels, { raw: grey }).jpeg().toBuffer());
  writeFileSync(join(images, dicom), writeDicom(pixels, 16, 16));
  // sharp rasterises this without complaint: only the magic-byte check keeps it out of the cache.
  writeFileSync(
    join(images, svg),
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="#fff"/></svg>',
  );
  writeFileSync(join(images, gif), await sharp(pixels, { raw: grey }).gif().toBuffer());
  writeFileSync(join(images, text), "not an image at all\n");
  const result = await buildCache(images, join(tmp.path, "cache"), trainJob(names, 8, "d"), {
    concurrency: 2,
  });
  assert.deepEqual(result.failed, [
    { name: svg, reason: "not a PNG, JPEG or DICOM image (its bytes are SVG or XML text)" },
    { name: gif, reason: "not a PNG, JPEG or DICOM image (its bytes are a GIF image)" },
    { name: text, reason: "not a PNG, JPEG or DICOM image (no known signature)" },
  ]);
  assert.equal(result.images, 3, "the PNG, the JPEG and the DICOM are cached");
  const bin = Deno.readFileSync(join(tmp.path, "cache", "train.bin"));
  assert.deepEqual(
    bin.subarray(0, 64),
    await decodeImage(join(images, png), 8),
    "the PNG as decodeImage gives it",
  );
  // The DICOM's 16x16 ramp resized like the JPEG's: both grey, both the same gradient to within JPEG loss.
  const [j, d] = [bin.subarray(64, 128), bin.subarray(128, 192)];
  assert.ok(d.every((v, i) => Math.abs(v - j[i]!) <= 12), `${d} vs ${j}`);
});
