import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { samplePngs } from "../../tests/_archive_server.ts";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { checkDecodeLimits, DecodeError, decodeImage, inspectImage } from "./decode.ts";

const IMAGES = join(NIH_SAMPLE, "images");
const RGBA = ["00000100_000.png", "00001369_000.png", "00002578_000.png"];
const GREY = join(IMAGES, "00000427_000.png");

/** A 16-bit RGBA PNG, interlaced: 8 bytes a pixel once decoded. */
async function rgba16(width: number, height: number): Promise<Uint8Array> {
  const background = { r: 90, g: 60, b: 30, alpha: 1 };
  return await sharp({ create: { width, height, channels: 4, background } }).toColourspace("rgb16")
    .png({ progressive: true }).toBuffer();
}

Deno.test("every sample PNG decodes to 224x224 grey; grey ones equal sharp's own one-channel resize", async () => {
  const names = samplePngs();
  assert.equal(names.length, 39);
  for (const name of names) {
    const px = await decodeImage(join(IMAGES, name), 224);
    assert.equal(px.length, 224 * 224);
    const meta = await sharp(join(IMAGES, name)).metadata();
    assert.equal(meta.channels === 4, RGBA.includes(name), name);
    if (meta.channels === 1) {
      const ref = await sharp(join(IMAGES, name)).resize(224, 224, { kernel: "lanczos3" }).extractChannel(0)
        .raw()
        .toBuffer();
      assert.equal(ref.length, px.length);
      const differing = px.filter((v, i) => v !== ref[i]).length;
      assert.equal(differing, 0, `${name}: ${differing} pixels differ from sharp's own resize`);
    }
  }
});

Deno.test("RGBA sample PNGs become their (equal) colour channel, not noise or alpha", async () => {
  for (const name of RGBA) {
    const px = await decodeImage(join(IMAGES, name), 64);
    const red = await sharp(join(IMAGES, name)).extractChannel(0).resize(64, 64, { kernel: "lanczos3" }).raw()
      .toBuffer();
    const maxDiff = px.reduce((m, v, i) => Math.max(m, Math.abs(v - red[i]!)), 0);
    assert.ok(maxDiff <= 1, `${name}: differs from its red channel by ${maxDiff}`);
    assert.ok(new Set(px).size > 50, `${name}: too few grey levels`);
  }
});

Deno.test("a truncated PNG, a missing file and bytes that are no image are DecodeErrors", async () => {
  using dir = tempDir();
  const bytes = readFileSync(GREY);
  writeFileSync(join(dir.path, "cut.png"), bytes.subarray(0, bytes.length >> 1));
  const cut = await decodeImage(join(dir.path, "cut.png"), 32).catch((e) => e);
  assert.ok(cut instanceof DecodeError);
  assert.match(cut.message, /Cannot decode image ".*cut.png": truncated PNG: no IEND chunk/);
  // libvips words this failure differently from run to run; ours must not, or merged caches would differ.
  for (let i = 0; i < 5; i++) {
    assert.equal((await decodeImage(join(dir.path, "cut.png"), 32).catch((e) => e)).reason, cut.reason);
  }
  await assert.rejects(decodeImage(join(dir.path, "none.png"), 32), (e: DecodeError) => {
    assert.match(e.reason, /missing/);
    return e instanceof DecodeError;
  });
  await assert.rejects(decodeImage(new TextEncoder().encode("not a png"), 32), DecodeError);
});

Deno.test("decodeImage writes into a given buffer and checks its arguments", async () => {
  const into = new Uint8Array(16 * 16);
  const px = await decodeImage(GREY, 16, { into });
  assert.equal(px, into);
  assert.ok(into.some((v) => v > 0));
  await assert.rejects(decodeImage(GREY, 0), RangeError);
  await assert.rejects(decodeImage(GREY, 16, { into: new Uint8Array(3) }), RangeError);
});

Deno.test("inspectImage: decoded bytes count channels, bits per sample and interlacing, from the header", async () => {
  assert.deepEqual(await inspectImage(await rgba16(1500, 1000)), {
    format: "png",
    width: 1500,
    height: 1000,
    channels: 4,
    bitsPerSample: 16,
    interlaced: true,
    decodedBytes: 1500 * 1000 * 4 * 2,
  });
  const nih = await inspectImage(GREY);
  const header = [nih.width, nih.height, nih.channels, nih.bitsPerSample, nih.interlaced];
  assert.deepEqual(header, [1024, 1024, 1, 8, false]);
  assert.equal(nih.decodedBytes, 1024 * 1024);
  const palette = await sharp({ create: { width: 10, height: 10, channels: 3, background: "#336699" } })
    .png({ palette: true }).toBuffer();
  assert.equal((await inspectImage(palette)).decodedBytes, 10 * 10 * 3); // palettes decode to RGB
  await assert.rejects(inspectImage(new TextEncoder().encode("not an image")), DecodeError);
});

Deno.test("decodeImage: refuses an image over maxDecodedBytes or maxPixels before decoding it", async () => {
  const big = await rgba16(2000, 2000); // 4x the bytes an 8-bit grey image of the same pixels needs
  const limit = 16 * 1048576;
  const e = await decodeImage(big, 32, { maxDecodedBytes: limit, maxPixels: 50_000_000 }).catch((e) => e);
  assert.ok(e instanceof DecodeError, String(e));
  assert.equal(
    e.reason,
    "it is 2000x2000 pixels, 4 channels of 16 bits, interlaced: 32000000 bytes (31 MiB) decoded, more than " +
      "the limit of 16777216 bytes (16 MiB)",
  );
  // the same pixels as 8-bit grey fit the same limit
  const grey = await sharp(big).toColourspace("b-w").png().toBuffer();
  assert.equal((await decodeImage(grey, 32, { maxDecodedBytes: limit })).length, 32 * 32);
  assert.equal((await decodeImage(GREY, 16, { maxPixels: 1024 * 1024 })).length, 256);
  const overPixels = /it is 1024x1024 pixels, more than the limit of 1000000 pixels/;
  await assert.rejects(decodeImage(GREY, 16, { maxPixels: 1_000_000 }), overPixels);
  const info = await inspectImage(big);
  assert.throws(
    () => checkDecodeLimits(info, { maxPixels: 3_999_999 }, "x.png"),
    /Cannot decode image "x.png"/,
  );
  checkDecodeLimits(info, {});
});
