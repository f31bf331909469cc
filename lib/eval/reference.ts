/**
 * Published per-class AUROC on ChestX-ray14 to set a model's numbers beside. Keyed by the 14 finding names
 * as in `FINDINGS`.
 *
 * @module
 */

/** A published set of per-class AUROC values with where it comes from. */
export interface ReferenceAuroc {
  /** Short column name. */
  name: string;
  /** Citation or address. */
  source: string;
  /** Caveat to print with it, if any. */
  note?: string;
  /** AUROC by finding. */
  perClass: Readonly<Record<string, number>>;
}

/**
 * CheXNet (Rajpurkar et al. 2017, arXiv:1711.05225, Table 1): DenseNet-121 on their own patient-wise split.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(CHEXNET_AUROC.perClass.Cardiomegaly, 0.9248);
 * assert.equal(Object.keys(CHEXNET_AUROC.perClass).length, 14);
 * ```
 */
export const CHEXNET_AUROC: ReferenceAuroc = Object.freeze({
  name: "CheXNet",
  source: "Rajpurkar et al. 2017, arXiv:1711.05225, Table 1",
  note: "their own random patient-wise split, not the official test list",
  perClass: Object.freeze({
    Atelectasis: 0.8094,
    Cardiomegaly: 0.9248,
    Effusion: 0.8638,
    Infiltration: 0.7345,
    Mass: 0.8676,
    Nodule: 0.7802,
    Pneumonia: 0.768,
    Pneumothorax: 0.8887,
    Consolidation: 0.7901,
    Edema: 0.8878,
    Emphysema: 0.9371,
    Fibrosis: 0.8047,
    Pleural_Thickening: 0.8062,
    Hernia: 0.9164,
  }),
});

/**
 * The seed project's reported numbers: the "Results" table of the Microsoft AzureChestXRay repository's
 * README (github.com/Azure/AzureChestXRay, "average AUROC ... around 0.845"). Its evaluation appended a fake
 * all-ones label row before computing AUROC, so these are not comparable one to one (Infiltration 0.907 and
 * Nodule 0.908 are far above every other published value).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(SEED_AUROC.perClass.Atelectasis, 0.828543);
 * ```
 */
export const SEED_AUROC: ReferenceAuroc = Object.freeze({
  name: "seed",
  source: "github.com/Azure/AzureChestXRay README, Results",
  note: "its evaluation added a fake all-ones label row; not directly comparable",
  perClass: Object.freeze({
    Atelectasis: 0.828543,
    Cardiomegaly: 0.891449,
    Effusion: 0.817697,
    Infiltration: 0.907302,
    Mass: 0.895815,
    Nodule: 0.907841,
    Pneumonia: 0.817601,
    Pneumothorax: 0.881838,
    Consolidation: 0.721818,
    Edema: 0.868002,
    Emphysema: 0.787202,
    Fibrosis: 0.826822,
    Pleural_Thickening: 0.793416,
    Hernia: 0.889089,
  }),
});

/** The references shown beside every evaluation, in column order. */
export const REFERENCE_AUROC: readonly ReferenceAuroc[] = Object.freeze([CHEXNET_AUROC, SEED_AUROC]);
