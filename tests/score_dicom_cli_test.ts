/**
 * `cxr score` as a subprocess on real compressed DICOM files (pydicom's test files from Debian's
 * python3-pydicom): RLE and JPEG-LS scored by a local model equal the uncompressed MR_small.dcm; a 12-bit JPEG
 * is an error line that says why.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCxr, tempDir } from "./_fixtures.ts";
import { createDenseNet, saveBundle, selectBackend } from "../lib/model/mod.ts";
import { PYDICOM_FILES } from "../lib/images/_dicom_testing.ts";

const missing = existsSync(`${PYDICOM_FILES}/MR_small.dcm`)
  ? null
  : `no ${PYDICOM_FILES} (apt-get install -y python3-pydicom; scripts/setup.sh installs it for tests)`;

Deno.test({
  name: `score --model on compressed DICOM files${missing ? `: skipped, ${missing}` : ""}`,
  ignore: missing !== null,
  async fn() {
    using tmp = tempDir();
    await selectBackend("cpu");
    const bundle = join(tmp.path, "bundle");
    const model = createDenseNet({ blocks: [1], growthRate: 4, inputSize: 32 });
    await saveBundle(model, bundle, { modelVersion: "dicom-cli-1", architecture: { name: "densenet-tiny" } });
    model.dispose();
    const names = ["MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "JPEG-lossy.dcm"];
    const r = await runCxr([
      "score",
      "--model",
      bundle,
      "--engine",
      "tfjs",
      ...names.map((n) => join(PYDICOM_FILES, n)),
    ], {
      env: { CXR_BACKEND: "cpu" },
    });
    assert.equal(r.code, 1, r.stderr);
    const parsed = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(parsed.map((l) => l.image), [...names].sort()); // lines come in name order
    const lines = names.map((n) => parsed.find((l) => l.image === n));
    assert.equal(Object.keys(lines[0].probabilities).length, 14);
    assert.deepEqual(lines[1].probabilities, lines[0].probabilities);
    assert.deepEqual(lines[2].probabilities, lines[0].probabilities);
    assert.equal(lines[3].error.code, "bad_image");
    assert.match(
      lines[3].error.message,
      /a 12-bit JPEG \(transfer syntax 1\.2\.840\.10008\.1\.2\.4\.51\) is not supported/,
    );
    assert.match(r.stderr, /Scored 3 of 4 images \(1 failed\)/);
  },
});
