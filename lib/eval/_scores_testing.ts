// Helpers shared by the tests of the scores files (scores_*_test.ts): `cxr score` lines, image names, and
// synthetic labels with scores that follow them.
import { FINDINGS, parseEntries } from "../nih/mod.ts";
import { mulberry32 } from "../random.ts";

const HEADER = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position," +
  "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]";

/** The NIH file name of image `i` (0-based): `00000001_000.png` for 0. */
export function name(i: number): string {
  return `${String(i + 1).padStart(8, "0")}_000.png`;
}

/** A `cxr score` line, as batch.ts writes it. */
export function line(image: string, values: ArrayLike<number>, version = "v1"): string {
  const probabilities = Object.fromEntries(FINDINGS.map((f, k) => [f, values[k]]));
  return JSON.stringify({
    image,
    model: { name: "densenet121", version },
    probabilities,
    top: { class: "Mass", probability: values[4] },
  });
}

/** `n` images with labels cycling so every class but Hernia has both, and scores that follow the labels. */
export function synthetic(n: number, seed = 7) {
  const rnd = mulberry32(seed);
  const labels = new Uint8Array(n * 14), scores = new Float64Array(n * 14);
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const found: string[] = [];
    for (const [k, finding] of FINDINGS.entries()) {
      const y = k < 13 && (i * 7 + k * 3) % 5 === 0 ? 1 : 0;
      labels[i * 14 + k] = y;
      // float32 precision, as a model writes them; equal values occur (ties)
      scores[i * 14 + k] = Math.fround(Math.round((0.25 * y + rnd() * 0.75) * 50) / 50);
      if (y) found.push(finding);
    }
    const pid = i + 1;
    rows.push(`${name(i)},${found.join("|") || "No Finding"},0,${pid},40,F,PA,2500,2048,0.143,0.143`);
  }
  return { labels, scores, entries: parseEntries(`${HEADER}\n${rows.join("\n")}\n`, { file: "e.csv" }) };
}
