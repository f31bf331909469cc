/**
 * The 14 ChestX-ray14 findings, in the order every model output and multi-hot vector uses.
 *
 * @module
 */
import { NihError } from "./errors.ts";

/**
 * The 14 findings, in model output order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(FINDINGS.length, 14);
 * assert.equal(FINDINGS[12], "Pleural_Thickening");
 * ```
 */
export const FINDINGS = [
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
] as const;

/** One of the 14 findings. */
export type Finding = typeof FINDINGS[number];

/** The label of an image without any of the 14 findings (a multi-hot vector of zeros). */
export const NO_FINDING = "No Finding" as const;

/** Other spellings met in NIH files and older code, mapped to the canonical finding. */
const ALIASES: Record<string, Finding> = {
  "Pleural Thickening": "Pleural_Thickening",
  "Infiltrate": "Infiltration",
};

const INDEX = new Map<string, number>([
  ...FINDINGS.map((f, i) => [f, i] as const),
  ...Object.entries(ALIASES).map(([a, f]) => [a, FINDINGS.indexOf(f)] as const),
]);

/**
 * A label that is not one of the 14 findings (nor `No Finding`), or `No Finding` combined with a finding.
 * `offset` is the 0-based character offset of the bad label in the text given.
 */
export class FindingLabelError extends NihError {
  /**
   * @param message What is wrong with the label.
   * @param offset 0-based character offset of the label in the parsed text.
   */
  constructor(message: string, readonly label: string, readonly offset: number, options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * Index of a finding in {@linkcode FINDINGS}, accepting the aliases `Pleural Thickening` and `Infiltrate`;
 * -1 when unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(findingIndex("Pleural Thickening"), 12);
 * assert.equal(findingIndex("Infiltrate"), 3);
 * assert.equal(findingIndex("Flu"), -1);
 * ```
 */
export function findingIndex(label: string): number {
  return INDEX.get(label) ?? -1;
}

/**
 * The canonical spelling of a finding, or `undefined` when the label is not one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(toFinding("Pleural Thickening"), "Pleural_Thickening");
 * assert.equal(toFinding("No Finding"), undefined);
 * ```
 */
export function toFinding(label: string): Finding | undefined {
  const i = findingIndex(label);
  return i < 0 ? undefined : FINDINGS[i];
}

/**
 * Parses a `Finding Labels` value (`|`-separated) into a multi-hot vector in {@linkcode FINDINGS} order.
 * `No Finding` gives all zeros.
 *
 * @throws {FindingLabelError} On an unknown or empty label, or `No Finding` combined with another label; the
 *   message lists the valid labels.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual([...parseFindingLabels("Cardiomegaly|Effusion")], [0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
 * assert.ok(parseFindingLabels("No Finding").every((v) => v === 0));
 * assert.equal(parseFindingLabels("Pleural Thickening")[12], 1);
 * assert.throws(() => parseFindingLabels("Mass|Flu"), /unknown label "Flu".*Atelectasis, Cardiomegaly/);
 * assert.throws(() => parseFindingLabels("No Finding|Mass"), /"No Finding" combined with/);
 * ```
 */
export function parseFindingLabels(text: string): Uint8Array {
  const out = new Uint8Array(FINDINGS.length);
  if (text === NO_FINDING) return out;
  let offset = 0;
  for (const label of text.split("|")) {
    const i = INDEX.get(label);
    if (i === undefined) {
      const why = label === NO_FINDING
        ? `"No Finding" combined with other labels in "${text}"`
        : `unknown label "${label}"; valid labels: ${[...FINDINGS, NO_FINDING].join(", ")}`;
      throw new FindingLabelError(why, label, offset);
    }
    out[i] = 1;
    offset += label.length + 1;
  }
  return out;
}
