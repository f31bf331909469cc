/**
 * Pixels of the synthetic chest X-rays: a seeded PRNG, the per-image geometry (anatomy plus one visible
 * pattern per finding) and the renderer. Private to {@link ./synth.ts}; every coordinate here is normalised
 * to the image side (0..1), so the same picture comes out at any size.
 *
 * @module
 */
import { mixSeed, mulberry32 } from "../random.ts";

/** An axis-aligned ellipse in normalised coordinates. */
export interface Ellipse {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

/** A box in normalised coordinates: left, top, width, height. */
export type Box = [x: number, y: number, w: number, h: number];

/** Everything the renderer needs for one image, fixed by its labels and seed. */
export interface Geometry {
  lungs: [Ellipse, Ellipse];
  heart: Ellipse;
  lungTone: number;
  gain: number;
  offset: number;
  noiseSeed: number;
  /** Per finding index: the region where its pattern is drawn, its severity and shape parameters. */
  findings: Map<number, { region: Ellipse; severity: number; dots?: Ellipse[] }>;
}

const ell = (cx: number, cy: number, rx: number, ry: number): Ellipse => ({ cx, cy, rx, ry });

/** Where each finding (index into FINDINGS) draws its pattern, before per-image jitter. */
const SPOTS: readonly Ellipse[] = [
  ell(0.27, 0.65, 0.08, 0.035), // Atelectasis: flat dense band at the left-image lung base
  ell(0.55, 0.62, 0.18, 0.13), // Cardiomegaly: the enlarged heart
  ell(0.68, 0.66, 0.14, 0.07), // Effusion: fluid filling the right-image lung base
  ell(0.32, 0.47, 0.09, 0.06), // Infiltration: blotchy patch, mid left-image lung
  ell(0.33, 0.34, 0.05, 0.05), // Mass: large bright disc, upper left-image lung
  ell(0.70, 0.28, 0.05, 0.04), // Nodule: cluster of three small dots, right-image apex
  ell(0.38, 0.57, 0.08, 0.055), // Pneumonia: soft cone-shaped opacity, lower left-image lung
  ell(0.26, 0.24, 0.07, 0.07), // Pneumothorax: dark apex with a bright pleural line
  ell(0.64, 0.50, 0.07, 0.045), // Consolidation: sharp-edged dense patch, mid right-image lung
  ell(0.50, 0.44, 0.15, 0.08), // Edema: bilateral perihilar haze
  ell(0.50, 0.45, 0.34, 0.30), // Emphysema: taller, darker lungs
  ell(0.68, 0.37, 0.08, 0.05), // Fibrosis: reticular grid, upper right-image lung
  ell(0.79, 0.44, 0.04, 0.16), // Pleural_Thickening: bright band along the right-image lateral wall
  ell(0.44, 0.80, 0.05, 0.05), // Hernia: round bubble with an air-fluid level below the heart
];

/**
 * Draws the geometry of one image from its labels (finding indices) and seed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const g = geometry([1], 3); // Cardiomegaly: a wider heart
 * assert.ok(g.heart.rx > geometry([], 3).heart.rx);
 * assert.deepEqual([...g.findings.keys()], [1]);
 * ```
 */
export function geometry(labels: readonly number[], seed: number): Geometry {
  const rnd = mulberry32(seed);
  const j = (a: number) => (rnd() * 2 - 1) * a;
  const emph = labels.includes(10);
  const lungRy = (emph ? 0.3 : 0.27) * (1 + j(0.03));
  const lungs: [Ellipse, Ellipse] = [
    ell(0.32 + j(0.01), 0.45 + j(0.01), 0.14 * (1 + j(0.04)), lungRy),
    ell(0.68 + j(0.01), 0.45 + j(0.01), 0.14 * (1 + j(0.04)), lungRy),
  ];
  const cardio = labels.includes(1);
  const heart = ell(
    0.55 + j(0.01),
    0.62 + j(0.01),
    (cardio ? 0.18 : 0.12) * (1 + j(0.05)),
    cardio ? 0.13 : 0.1,
  );
  const gain = 1 + j(0.06), offset = j(4);
  const findings: Geometry["findings"] = new Map();
  for (const k of [...labels].sort((a, b) => a - b)) {
    const s = SPOTS[k];
    if (!s) throw new RangeError(`geometry: finding index ${k} is not in 0..${SPOTS.length - 1}`);
    let region = ell(s.cx + j(0.015), s.cy + j(0.015), s.rx * (1 + j(0.1)), s.ry * (1 + j(0.1)));
    if (k === 1) region = heart;
    if (k === 10) region = ell(0.5, lungs[0].cy, 0.34, lungRy);
    const entry: { region: Ellipse; severity: number; dots?: Ellipse[] } = {
      region,
      severity: 0.7 + 0.3 * rnd(),
    };
    if (k === 5) {
      entry.dots = ([[-0.6, -0.4], [0.5, -0.5], [0, 0.6]] as const).map(([dx, dy]) =>
        ell(region.cx + dx * region.rx, region.cy + dy * region.ry, 0.02, 0.02)
      );
    }
    findings.set(k, entry);
  }
  return {
    lungs,
    heart,
    lungTone: emph ? -68 : -45,
    gain,
    offset,
    noiseSeed: mixSeed(seed, 0x5eed),
    findings,
  };
}

/**
 * The box (normalised) a finding's pattern occupies, for `BBox_List_2017.csv`; `undefined` when absent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const [x, y, w, h] = findingBox(geometry([4], 1), 4)!; // Mass, upper left-image lung
 * assert.ok(x > 0.2 && x + w < 0.45 && y > 0.2 && y + h < 0.45);
 * assert.equal(findingBox(geometry([], 1), 4), undefined);
 * ```
 */
export function findingBox(g: Geometry, k: number): Box | undefined {
  const f = g.findings.get(k);
  if (!f) return undefined;
  const parts = f.dots ?? [f.region];
  const x0 = Math.min(...parts.map((e) => e.cx - e.rx)), x1 = Math.max(...parts.map((e) => e.cx + e.rx));
  const y0 = Math.min(...parts.map((e) => e.cy - e.ry)), y1 = Math.max(...parts.map((e) => e.cy + e.ry));
  return [x0, y0, x1 - x0, y1 - y0];
}

/** Calls `row(py, v, dy, px0, px1)` for each pixel row the ellipse crosses, with its inside span of columns. */
function rows(
  n: number,
  e: Ellipse,
  row: (py: number, v: number, dy: number, x0: number, x1: number) => void,
) {
  const y0 = Math.max(0, Math.floor((e.cy - e.ry) * n)), y1 = Math.min(n, Math.ceil((e.cy + e.ry) * n));
  for (let py = y0; py < y1; py++) {
    const v = (py + 0.5) / n;
    const dy = (v - e.cy) / e.ry;
    if (dy * dy >= 1) continue;
    const half = e.rx * Math.sqrt(1 - dy * dy);
    row(py, v, dy, Math.max(0, Math.floor((e.cx - half) * n)), Math.min(n, Math.ceil((e.cx + half) * n)));
  }
}

/** Adds `f(u, v, d)` inside an ellipse, `d` the squared normalised radius (< 1). */
function paint(
  acc: Float32Array,
  n: number,
  e: Ellipse,
  f: (u: number, v: number, d: number) => number,
): void {
  const irx = 1 / e.rx;
  rows(n, e, (py, v, dy, x0, x1) => {
    const row = py * n;
    for (let px = x0; px < x1; px++) {
      const u = (px + 0.5) / n;
      const dx = (u - e.cx) * irx;
      const d = dx * dx + dy * dy;
      if (d < 1) acc[row + px]! += f(u, v, d);
    }
  });
}

/** Adds a soft-edged disc: `amp` inside, falling to 0 over the outer `edge` of the radius². */
function paintSoft(acc: Float32Array, n: number, e: Ellipse, amp: number, edge: number): void {
  const irx = 1 / e.rx, k = amp / edge;
  rows(n, e, (py, _v, dy, x0, x1) => {
    const row = py * n;
    for (let px = x0; px < x1; px++) {
      const dx = ((px + 0.5) / n - e.cx) * irx;
      const d = dx * dx + dy * dy;
      if (d < 1) acc[row + px]! += d < 1 - edge ? amp : k * (1 - d);
    }
  });
}

/** Deterministic value noise in [0, 1) per integer cell. */
function cellNoise(ix: number, iy: number, salt: number): number {
  return mixSeed(ix, iy, salt) / 4294967296;
}

/** Draws one finding's pattern. */
function drawFinding(acc: Float32Array, n: number, g: Geometry, k: number): void {
  const { region: e, severity: s, dots } = g.findings.get(k)!;
  const [lungL, lungR] = g.lungs;
  const inLung = (l: Ellipse, u: number, v: number) =>
    ((u - l.cx) / l.rx) ** 2 + ((v - l.cy) / l.ry) ** 2 < 1;
  switch (k) {
    case 0: // Atelectasis
    case 4: // Mass
    case 8: // Consolidation
      return paintSoft(acc, n, e, (k === 8 ? 85 : 95) * s, k === 0 ? 0.5 : 0.15);
    case 2: { // Effusion: fills the lung base with a meniscus
      const top = e.cy - e.ry;
      return paint(acc, n, e, (u, v) => (inLung(lungR, u, v) ? 85 * s * Math.min(1, (v - top) / 0.03) : 0));
    }
    case 3: // Infiltration: blotchy patch
      return paint(acc, n, e, (u, v, d) => {
        const c = cellNoise(Math.floor(u * 40), Math.floor(v * 40), 3);
        return 70 * s * (0.35 + 0.65 * c) * Math.min(1, (1 - d) / 0.3);
      });
    case 5: // Nodule
      for (const dot of dots!) paintSoft(acc, n, dot, 120 * s, 0.3);
      return;
    case 6: // Pneumonia: cone profile
      return paint(acc, n, e, (_u, _v, d) => 110 * s * (1 - Math.sqrt(d)));
    case 7: // Pneumothorax: collapsed, dark apex; bright pleural line at the rim
      return paint(acc, n, e, (u, v, d) => {
        if (!inLung(lungL, u, v)) return 0;
        return d > 0.88 ? 50 * s : -60 * s;
      });
    case 9: // Edema: haze at both hila
      return paint(acc, n, e, (u, _v, d) => 65 * s * (1 - d) * (Math.abs(u - e.cx) > 0.03 ? 1 : 0.3));
    case 11: // Fibrosis: reticular grid
      return paint(acc, n, e, (u, v, d) => {
        const line = u * 70 - Math.floor(u * 70) < 0.3 || v * 70 - Math.floor(v * 70) < 0.3;
        return (line ? 80 : 15) * s * Math.min(1, (1 - d) / 0.3);
      });
    case 12: // Pleural_Thickening
      return paintSoft(acc, n, e, 90 * s, 0.4);
    case 13: // Hernia: air above, fluid below
      return paint(acc, n, e, (_u, v, d) => (v < e.cy ? -30 : 110) * s * Math.min(1, (1 - d) / 0.2));
      // Cardiomegaly and Emphysema change the anatomy itself (heart and lung size, lung tone).
  }
}

/**
 * Renders one grey image of `n`×`n` pixels (8-bit, row-major) from its geometry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const px = render(geometry([], 1), 64);
 * assert.equal(px.length, 64 * 64);
 * assert.ok(px[0]! < 40 && px[40 * 64 + 32]! > 100); // dark corner, bright mediastinum
 * assert.deepEqual(px, render(geometry([], 1), 64));
 * ```
 */
export function render(g: Geometry, n: number): Uint8Array {
  const acc = new Float32Array(n * n).fill(14);
  paintSoft(acc, n, ell(0.5, 0.66, 0.47, 0.64), 90, 0.12); // torso
  paintSoft(acc, n, ell(0.5, 0.58, 0.035, 0.56), 45, 0.5); // spine and mediastinum
  for (const lung of g.lungs) {
    // Lung field darker than soft tissue, with curved ribs.
    paint(acc, n, lung, (u, v, d) => {
      const r = v * 11 + 3 * (u - 0.5) * (u - 0.5), rib = r - Math.floor(r);
      return (g.lungTone + 14 * (rib < 0.25 ? 1 : 0)) * Math.min(1, (1 - d) / 0.1);
    });
  }
  paintSoft(acc, n, g.heart, 70, 0.2);
  for (const k of g.findings.keys()) drawFinding(acc, n, g, k);
  const out = new Uint8Array(n * n);
  let x = g.noiseSeed | 1;
  const { gain, offset } = g;
  for (let i = 0; i < out.length; i++) {
    // xorshift32 triangular noise, ±3 grey levels
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const noise = ((x & 0xff) + ((x >>> 8) & 0xff)) / 85.0 - 3;
    const val = acc[i]! * gain + offset + noise;
    out[i] = val < 0 ? 0 : val > 255 ? 255 : val + 0.5;
  }
  return out;
}
