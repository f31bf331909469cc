import assert from "node:assert/strict";
import {
  findingIndex,
  FindingLabelError,
  FINDINGS,
  NO_FINDING,
  parseFindingLabels,
  toFinding,
} from "./classes.ts";

Deno.test("FINDINGS holds the 14 classes in model output order", () => {
  assert.deepEqual(FINDINGS, [
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
  ]);
});

Deno.test("every finding parses to a one-hot vector", () => {
  for (const [i, f] of FINDINGS.entries()) {
    const v = parseFindingLabels(f);
    assert.equal(v.reduce((a, b) => a + b, 0), 1);
    assert.equal(v[i], 1);
  }
  assert.ok(parseFindingLabels(FINDINGS.join("|")).every((x) => x === 1));
});

Deno.test("No Finding is all zeros, and an error next to another label", () => {
  assert.deepEqual([...parseFindingLabels(NO_FINDING)], new Array(14).fill(0));
  assert.throws(() => parseFindingLabels("Mass|No Finding"), (err: FindingLabelError) => {
    assert.equal(err.label, "No Finding");
    assert.equal(err.offset, 5);
    return true;
  });
});

Deno.test("old spellings are accepted and mapped to the canonical finding", () => {
  assert.equal(toFinding("Pleural Thickening"), "Pleural_Thickening");
  assert.equal(toFinding("Infiltrate"), "Infiltration");
  assert.equal(parseFindingLabels("Pleural Thickening")[FINDINGS.indexOf("Pleural_Thickening")], 1);
  assert.equal(findingIndex("No Finding"), -1);
});

Deno.test("unknown or empty labels name the label and list the valid ones", () => {
  assert.throws(() => parseFindingLabels("Effusion|Pneumonitis"), (err: FindingLabelError) => {
    assert.equal(err.label, "Pneumonitis");
    assert.equal(err.offset, 9);
    assert.match(
      err.message,
      /unknown label "Pneumonitis"; valid labels: Atelectasis, .*, Hernia, No Finding/,
    );
    return true;
  });
  assert.throws(() => parseFindingLabels(""), /unknown label ""/);
  assert.throws(() => parseFindingLabels("Mass||Edema"), /unknown label ""/);
});
