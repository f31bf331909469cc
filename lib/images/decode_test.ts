import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";
import { NIH_SAMPLE, tempDir } from "../../tests/_fixtures.ts";
import { DecodeError, decodeImage } from "./decode.ts";

const IMAGES = join(NIH_SAMPLE, "images");
const RGBA = ["00000100_000.png", "00001369_000.png", "00002578_000.png"];

Deno.test("every sample PNG decodes to 224x224 grey; grey ones equal sharp's own one-channel resize", async () => {
  const names = [...Deno.readDirSync(IMAGES)].map((e) => e.name).filter((n) => n.endsWith(".png")).sort();
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
    const maxDiff = px.reduce((m, v, i) => Math.max(m, Math.abs(v - red[i])), 0);
    assert.ok(maxDiff <= 1, `${name}: differs from its red channel by ${maxDiff}`);
    assert.ok(new Set(px).size > 50, `${name}: too few grey levels`);
  }
});

Deno.test("a truncated PNG, a missing file and bytes that are no image are DecodeErrors", async () => {
  using dir = tempDir();
  const bytes = readFileSync(join(IMAGES, "00000427_000.png"));
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
  const px = await decodeImage(join(IMAGES, "00000427_000.png"), 16, { into });
  assert.equal(px, into);
  assert.ok(into.some((v) => v > 0));
  await assert.rejects(decodeImage(join(IMAGES, "00000427_000.png"), 0), RangeError);
  await assert.rejects(
    decodeImage(join(IMAGES, "00000427_000.png"), 16, { into: new Uint8Array(3) }),
    RangeError,
  );
});
