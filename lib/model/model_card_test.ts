import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type BundleMetadata,
  BundleMetadataSyntaxError,
  type EvaluationRecord,
  parseBundleMetadata,
} from "./bundle_format.ts";
import { loadBundle, MissingBundleError, readBundleMetadata, requireBundle, saveBundle } from "./bundle.ts";
import {
  BundleReadOnlyError,
  checkBundleWritable,
  ModelCard,
  readModelCard,
  updateBundleMetadata,
} from "./bundle_update.ts";
import { createDenseNet } from "./densenet.ts";
import { selectBackend } from "./backend.ts";
import { modelCard } from "./model_card.ts";
import { FINDINGS } from "../nih/classes.ts";

await selectBackend("cpu");

const BASE: BundleMetadata = {
  formatVersion: 1,
  classNames: [...FINDINGS],
  inputSize: 224,
  channels: 1,
  normalization: null,
  modelVersion: "densenet121-epoch-004-val-0.1500",
  createdAt: "2026-12-05T00:00:00.000Z",
  architecture: { name: "densenet121", inputSize: 224 },
  metrics: { epoch: 4, val_loss: 0.15 },
  splitDigest: "aa11",
};

function evaluation(over: Partial<EvaluationRecord> = {}): EvaluationRecord {
  return {
    partition: "test",
    images: 25596,
    recordedAt: "2026-12-06T10:00:00.000Z",
    splitDigest: "aa11",
    engine: "onnx",
    bootstrap: { resamples: 1000, confidence: 0.95, seed: 0 },
    classes: Object.fromEntries(FINDINGS.map((f, i) => [f, {
      auroc: f === "Hernia" ? null : 0.7 + i / 100,
      ci: f === "Hernia" ? null : [0.65 + i / 100, 0.75 + i / 100] as [number, number],
      positives: f === "Hernia" ? 0 : 100 + i,
      negatives: 25496 - i,
    }])),
    mean: { auroc: 0.76, ci: [0.74, 0.78], classes: 13 },
    reference: {
      name: "CheXNet",
      source: "Rajpurkar et al. 2017, arXiv:1711.05225, Table 1",
      note: "their own random patient-wise split, not the official test list",
      perClass: { Atelectasis: 0.8094, Cardiomegaly: 0.9248, Hernia: 0.9164 },
    },
    ...over,
  };
}

function tinyModel() {
  return createDenseNet({ blocks: [1], growthRate: 4, inputSize: 16 });
}

Deno.test("model card: a bundle written before provenance, training and evaluation were kept still parses and renders", () => {
  const old = parseBundleMetadata(JSON.stringify(BASE), "metadata.json");
  assert.equal(old.training, undefined);
  assert.equal(old.evaluation, undefined);
  const card = modelCard(old);
  for (
    const line of [
      "- Source: not recorded.",
      "- Split: digest `aa11`.",
      "- Starting weights: not recorded (bundle written before provenance was kept).",
      "- Training: not recorded (bundle written before it was kept).",
      "No evaluation recorded: `deno task cxr evaluate --model <bundle> --cache <cache> --record`",
      "| val_loss | 0.1500 |",
    ]
  ) {
    assert.ok(card.includes(line), line);
  }
  for (const heading of ["## Model", "## Data", "## Training", "## Metrics", "## Intended use and limits"]) {
    assert.match(card, new RegExp(`^${heading}$`, "m"));
  }
  // The limits the issue asks for, on every card.
  assert.match(card, /not a medical device, not for diagnosis/);
  assert.match(card, /mined from radiology reports by text\s+processing/);
  assert.match(card, /Frontal views only \(PA and AP\)/);
  assert.match(card, /No clinical validation/);
});

Deno.test("model card: training data and settings; an imported Keras model says it was not trained here", () => {
  const trained = modelCard({
    ...BASE,
    weights: { init: "imagenet", file: "notop.h5", md5: "4912a53fbd2a69346e7f2c0b5ec8c6d3", freeze: "none" },
    training: {
      source: "NIH ChestX-ray14",
      splitMethod: "official",
      images: { train: 75708, val: 10816 },
      epochs: 4,
      batchSize: 16,
      microBatch: 16,
      backend: "tensorflow",
      seconds: 45,
      lr: 0.001,
      seed: 0,
      weightedLoss: false,
    },
  });
  assert.ok(trained.includes("- Source: NIH ChestX-ray14."));
  assert.ok(trained.includes("- Split: method `official`, digest `aa11`."));
  assert.ok(trained.includes("- Images: 75708 training, 10816 validation."));
  assert.ok(trained.includes("- Epochs: 4; batch 16 images per step."), "no accumulation mentioned");
  assert.ok(trained.includes("- Backend: tensorflow; time: 45 s"));
  assert.ok(trained.includes("- Settings: initial learning rate 0.001, seed 0, loss unweighted."));
  assert.match(trained, /Starting weights: ImageNet/);

  const imported = modelCard({
    ...BASE,
    metrics: {},
    splitDigest: null,
    weights: { init: "keras", file: "chexnet.h5" },
  });
  assert.ok(imported.includes("- Source: not known (an imported model)."));
  assert.ok(imported.includes("- Training: none here; the weights were imported as they were."));
  assert.ok(imported.includes("None recorded (e.g. an imported model)."));
});

Deno.test("model card: per-class AUROC with intervals beside CheXNet, on the partition it was evaluated on", () => {
  const card = modelCard({ ...BASE, evaluation: evaluation() });
  assert.match(
    card,
    /Partition `test`, 25596 images, scored with onnx; recorded 2026-12-06T10:00:00\.000Z\./,
  );
  assert.match(card, /Same split as training \(digest matches\)/);
  assert.match(card, /percentile bootstrap over images, 1000 resamples, seed 0/);
  assert.ok(card.includes("| finding | AUROC | 95 % CI | positives | negatives | CheXNet |"));
  assert.ok(card.includes("| Atelectasis | 0.700 | 0.650–0.750 | 100 | 25496 | 0.809 |"));
  assert.ok(card.includes("| Cardiomegaly | 0.710 | 0.660–0.760 | 101 | 25495 | 0.925 |"));
  assert.ok(card.includes("| Hernia | — | — | 0 | 25483 | 0.916 |"));
  assert.ok(card.includes("| Mass | 0.740 | 0.690–0.790 | 104 | 25492 | — |"), "no reference value: a dash");
  // The reference's mean is over the same findings as the model's: Hernia (undefined here) left out.
  assert.ok(
    card.includes(`| mean (13 findings) | 0.760 | 0.740–0.780 | | | ${((0.8094 + 0.9248) / 2).toFixed(3)} |`),
  );
  assert.match(
    card,
    /CheXNet: Rajpurkar et al\. 2017, arXiv:1711\.05225, Table 1 \(their own random patient-wise split/,
  );
  const body = card.split("### Evaluation")[1]?.split("###")[0] ?? "";
  assert.equal(
    body.split("\n").filter((l) => l.startsWith("| ")).length,
    2 + 14 + 1,
    "header, rule, 14 findings, mean",
  );

  const other = modelCard({
    ...BASE,
    evaluation: evaluation({ splitDigest: "bb22", bootstrap: { resamples: 0, confidence: 0.95, seed: 0 } }),
  });
  assert.match(
    other,
    /Split digest `bb22`, not the training split's: check these images were not trained on\./,
  );
  assert.ok(other.includes("| finding | AUROC | CI (none run) |"));
  assert.doesNotMatch(other, /percentile bootstrap/);
});

Deno.test("bundle metadata: training and evaluation records are validated, naming the field", () => {
  const text = (extra: Record<string, unknown>) => JSON.stringify({ ...BASE, ...extra }, null, 2);
  const good = {
    images: { train: 1, val: 1 },
    epochs: 1,
    batchSize: 1,
    microBatch: 1,
    backend: "cpu",
    seconds: 1,
  };
  const training = (over: Record<string, unknown>) => ({ training: { ...good, ...over } });
  const bad = (over: Record<string, unknown>) => ({ evaluation: { ...evaluation(), ...over } });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ training: [] }, /training must be an object/],
    [training({ images: { train: 1 } }), /training\.images must be \{ train, val \}/],
    [training({ epochs: 1.5 }), /training\.epochs must be a non-negative integer/],
    [
      bad({ mean: { auroc: "0.7", ci: null, classes: 1 } }),
      /evaluation\.mean must be \{ auroc, ci, classes \}/,
    ],
    [
      bad({ classes: { Mass: { auroc: 0.7, ci: [0.6], positives: 1, negatives: 1 } } }),
      /evaluation\.classes\.Mass must be/,
    ],
    [
      bad({ reference: { name: "CheXNet", source: "x", perClass: { Mass: "high" } } }),
      /evaluation\.reference must be/,
    ],
  ];
  for (const [extra, message] of cases) {
    const t = text(extra);
    assert.throws(() => parseBundleMetadata(t, "metadata.json"), (e) => {
      assert.ok(e instanceof BundleMetadataSyntaxError);
      assert.match(e.message, message);
      const key = Object.keys(extra)[0];
      assert.equal(
        e.line,
        t.slice(0, t.indexOf(`"${key}"`)).split("\n").length,
        "points at the field's line",
      );
      return true;
    });
  }
  const full = { ...BASE, evaluation: evaluation() };
  assert.deepEqual(parseBundleMetadata(JSON.stringify(full), "m.json"), full);
});

Deno.test("updateBundleMetadata: records in place, atomically, re-rendering the card; weights untouched", async () => {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = tinyModel();
  await saveBundle(model, dir, { modelVersion: "v1", metrics: { val_loss: 0.2 } });
  const weights = readFileSync(join(dir, "weights.bin"));
  const before = readdirSync(dir).sort();
  const meta = await updateBundleMetadata(dir, (m) => ({ ...m, evaluation: evaluation() }));
  assert.deepEqual(readdirSync(dir).sort(), before, "no temporary file left behind");
  assert.deepEqual(readFileSync(join(dir, "weights.bin")), weights);
  assert.deepEqual(await readBundleMetadata(dir), meta);
  assert.equal(readFileSync(join(dir, "MODEL_CARD.md"), "utf8"), modelCard(meta));
  assert.match(
    readFileSync(join(dir, "MODEL_CARD.md"), "utf8"),
    /\| Cardiomegaly \| 0\.710 \| 0\.660–0\.760 \|/,
  );
  const loaded = await loadBundle(dir);
  assert.deepEqual(loaded.metadata.evaluation, evaluation());
  loaded.model.dispose();

  await assert.rejects(
    updateBundleMetadata(dir, (m) => ({ ...m, classNames: m.classNames.toReversed() })),
    /classNames cannot change in place/,
  );
  await assert.rejects(
    updateBundleMetadata(dir, (m) => ({ ...m, evaluation: { ...evaluation(), images: -1 } })),
    BundleMetadataSyntaxError,
  );
  assert.deepEqual(await readBundleMetadata(dir), meta, "a refused update changes nothing");
  assert.deepEqual(readdirSync(dir).sort(), before);

  // Saving the bundle again (new weights) drops the evaluation, which was of the old ones.
  await saveBundle(model, dir, { modelVersion: "v2" });
  assert.equal((await readBundleMetadata(dir)).evaluation, undefined);
  model.dispose();
});

Deno.test("checkBundleWritable: a folder this process cannot write into is a BundleReadOnlyError", async () => {
  // sysfs refuses new files even to root, where permission bits would not.
  await assert.rejects(checkBundleWritable("/sys"), (e) => {
    assert.ok(e instanceof BundleReadOnlyError);
    assert.match(e.message, /^Bundle folder "\/sys" is read-only \(EACCES\): nothing was recorded in it/);
    return true;
  });
  const dir = await Deno.makeTempDir();
  await checkBundleWritable(dir);
  assert.deepEqual(readdirSync(dir), []);
});

Deno.test("requireBundle: one clear line for a missing bundle; the metadata when it is there", async () => {
  const root = await Deno.makeTempDir();
  const hint = "run notebook 03 first, or set modelDir";
  const cases: [string, string][] = [
    [join(root, "run", "best"), `No model bundle at "${join(root, "run", "best")}": ${hint}`],
    [root, `No model bundle at "${root}" (the folder has no metadata.json): ${hint}`],
  ];
  writeFileSync(join(root, "file"), "");
  cases.push([join(root, "file"), `No model bundle at "${join(root, "file")}" (not a folder): ${hint}`]);
  for (const [dir, message] of cases) {
    await assert.rejects(requireBundle(dir, { hint }), (e) => {
      assert.ok(e instanceof MissingBundleError);
      assert.equal(e.message, message);
      assert.equal(e.stack, `MissingBundleError: ${message}`, "no trace to cascade in a notebook");
      return true;
    });
  }
  await assert.rejects(requireBundle("relative/nowhere"), (e) => {
    assert.ok(e instanceof MissingBundleError);
    assert.equal(e.dir, join(Deno.cwd(), "relative/nowhere"));
    assert.match(e.message, /: train one first \(`deno task cxr train`\) or pass another folder$/);
    return true;
  });

  const dir = join(root, "bundle");
  const model = tinyModel();
  const meta = await saveBundle(model, dir, { modelVersion: "v1" });
  model.dispose();
  assert.deepEqual(await requireBundle(dir), meta);
  writeFileSync(join(dir, "metadata.json"), "{");
  await assert.rejects(requireBundle(dir), BundleMetadataSyntaxError);
});

Deno.test("readModelCard: the bundle's card as Markdown for Jupyter, rendered from metadata when the file is missing", async () => {
  const dir = join(await Deno.makeTempDir(), "bundle");
  const model = tinyModel();
  const meta = await saveBundle(model, dir, { modelVersion: "v1" });
  model.dispose();
  const card = await readModelCard(dir);
  assert.ok(card instanceof ModelCard);
  assert.equal(card.text, readFileSync(join(dir, "MODEL_CARD.md"), "utf8"));
  assert.deepEqual(card.metadata, meta);
  const display = (card as unknown as Record<symbol, () => unknown>)[Symbol.for("Jupyter.display")];
  assert.deepEqual(display?.call(card), { "text/markdown": card.text });
  Deno.removeSync(join(dir, "MODEL_CARD.md"));
  assert.equal((await readModelCard(dir)).text, modelCard(meta));
  assert.ok(!existsSync(join(dir, "MODEL_CARD.md")), "reading never writes");
});
