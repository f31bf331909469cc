/**
 * The scoring handler on real compressed DICOM bodies (pydicom's test files, Debian's python3-pydicom): every
 * lossless transfer syntax of MR_small scores exactly as the uncompressed file, lossy JPEG 2000 scores, and what
 * cannot be read is a 400 `bad_image` that says why, sizes refused from the header before decoding.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { tempDir } from "../../tests/_fixtures.ts";
import { Secret } from "../secrets.ts";
import { PYDICOM_FILES } from "../images/_dicom_testing.ts";
import { createScoringHandler } from "./handler.ts";
import { parseScoreResponse } from "./score_format.ts";
import { KEY, post, tinyPredictor } from "./_testing.ts";

const missing = existsSync(`${PYDICOM_FILES}/MR_small.dcm`)
  ? null
  : `no ${PYDICOM_FILES} (apt-get install -y python3-pydicom; scripts/setup.sh installs it for tests)`;

Deno.test({
  name: `score: compressed DICOM bodies${missing ? `: skipped, ${missing}` : ""}`,
  ignore: missing !== null,
  async fn() {
    using dir = tempDir("cxr-serve-dicom-");
    await using predictor = await tinyPredictor(dir.path);
    const withLimit = (maxDecodedBytes: number) =>
      createScoringHandler(predictor, { key: new Secret(KEY), log: () => {}, maxDecodedBytes });
    const roomy = withLimit(1_000_000), tight = withLimit(100_000);
    const postFile = (name: string, handler = roomy) =>
      handler(post(readFileSync(`${PYDICOM_FILES}/${name}`), { "content-type": "application/dicom" }));
    const score = async (name: string) => {
      const res = await postFile(name);
      const text = await res.text();
      assert.equal(res.status, 200, `${name}: ${text}`);
      return parseScoreResponse(text, 200).probabilities;
    };
    const reference = await score("MR_small.dcm");
    for (
      const name of [
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_bigendian.dcm",
      ]
    ) {
      assert.deepEqual(await score(name), reference, name);
    }
    assert.equal(Object.keys(await score("JPEG2000.dcm")).length, 14);
    const refused: [string, RegExp, typeof roomy?][] = [
      [
        "JPEG2000.dcm", // refused from its header, before decoding
        /256x1024 pixels, 1 channel of 16 bits: 524288 bytes \(0\.5 MiB\) decoded, more than the limit of 100000/,
        tight,
      ],
      ["JPEG-lossy.dcm", /a 12-bit JPEG \(transfer syntax 1\.2\.840\.10008\.1\.2\.4\.51\) is not supported/],
      ["MR_truncated.dcm", /element \(7FE0,0010\) declares 8192 bytes, only 8130 left/],
      ["JPEG2000-embedded-sequence-delimiter.dcm", /the compressed stream is 3722445056x1024/],
    ];
    for (const [name, pattern, handler] of refused) {
      const res = await postFile(name, handler);
      const body = await res.json();
      assert.deepEqual([res.status, body.error.code], [400, "bad_image"], name);
      assert.match(body.error.message, pattern, name);
    }
  },
});
