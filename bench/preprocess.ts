/**
 * Preprocessing throughput: decode + resize to 224x224 grey of the 39 NIH sample PNGs (repeated to
 * `--images`, default 200) with this project's pipeline (sharp, lanczos3) at 1, 2 and 4 images in flight,
 * against Debian's python3-opencv (`IMREAD_GRAYSCALE` + `INTER_AREA`) and python3-pil (`convert("L")` +
 * `LANCZOS`) on the same files in the same run; plus the TypeScript augmentation per 224x224 image. Prints a
 * table and one JSON line.
 *
 *   deno run -A bench/preprocess.ts [--images 200] [--in-flight 1,2,4]
 *
 * The Python rows need Debian's python3-opencv and python3-pil (`./run bench` installs them); when a module is
 * missing the row says so instead of a figure.
 *
 * @module
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { augment, createRng, decodeImage } from "../lib/images/mod.ts";
import { NIH_SAMPLE } from "../tests/_fixtures.ts";

/** One measured pipeline. */
export interface PreprocessBenchRow {
  /** What ran, e.g. `sharp lanczos3`. */
  pipeline: string;
  /** Images in flight (Python: one process, one at a time). */
  inFlight: number;
  /** Images processed. */
  images: number;
  /** Images per second, or null when the pipeline is unavailable. */
  imagesPerSecond: number | null;
  /** Why there is no figure. */
  note?: string;
}

const PYTHON = "/usr/bin/python3";
const SIZE = 224;

async function sharpRate(files: string[], inFlight: number): Promise<number> {
  await Promise.all(files.slice(0, inFlight).map((f) => decodeImage(f, SIZE))); // warm-up
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    const into = new Uint8Array(SIZE * SIZE);
    for (let file; (file = files[next++]) !== undefined;) await decodeImage(file, SIZE, { into });
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return files.length / ((performance.now() - started) / 1000);
}

const PY_SCRIPT = `
import json, sys, time
files = sys.stdin.read().split("\\n")
which = sys.argv[1]
if which == "opencv":
    import cv2
    cv2.setNumThreads(1)
    def run(p):
        img = cv2.imread(p, cv2.IMREAD_GRAYSCALE)
        return cv2.resize(img, (${SIZE}, ${SIZE}), interpolation=cv2.INTER_AREA)
else:
    from PIL import Image
    def run(p):
        with Image.open(p) as im:
            return im.convert("L").resize((${SIZE}, ${SIZE}), Image.LANCZOS).tobytes()
run(files[0])
t = time.perf_counter()
for p in files:
    out = run(p)
print(json.dumps({"seconds": time.perf_counter() - t}))
`;

async function pythonRate(files: string[], which: "opencv" | "pil"): Promise<number | string> {
  const module = which === "opencv" ? "cv2" : "PIL";
  const pkg = which === "opencv" ? "python3-opencv" : "python3-pil";
  let child;
  try {
    child = new Deno.Command(PYTHON, {
      args: ["-c", PY_SCRIPT, which],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch {
    return `${PYTHON} not found (apt-get install -y python3 ${pkg})`;
  }
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(files.join("\n")));
  await w.close();
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    return stderr.includes(`No module named '${module}'`)
      ? `MISSING: ${pkg} is not installed (apt-get install -y ${pkg})`
      : `failed: ${stderr.trim().split("\n").at(-1)}`;
  }
  return files.length / JSON.parse(new TextDecoder().decode(out.stdout)).seconds;
}

function augmentRate(n: number): number {
  const img = new Uint8Array(SIZE * SIZE).map((_, i) => i % 251);
  const out = new Uint8Array(SIZE * SIZE);
  const rng = createRng(1);
  augment(img, SIZE, rng, { out });
  const started = performance.now();
  for (let i = 0; i < n; i++) augment(img, SIZE, rng, { out });
  return n / ((performance.now() - started) / 1000);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      images: { type: "string", default: "200" },
      "in-flight": { type: "string", default: "1,2,4" },
    },
  });
  const dir = join(NIH_SAMPLE, "images");
  const sample = readdirSync(dir).filter((n) => n.endsWith(".png")).sort().map((n) => join(dir, n));
  const total = Number(values.images);
  if (sample.length === 0) {
    throw new Error(`No PNG images in ${dir}: set CXR_NIH_SAMPLE to the NIH sample folder`);
  }
  const files = Array.from({ length: total }, (_, i) => sample[i % sample.length]!);
  const rows: PreprocessBenchRow[] = [];
  for (const k of values["in-flight"]!.split(",").map(Number)) {
    rows.push({
      pipeline: "sharp lanczos3 (this project)",
      inFlight: k,
      images: total,
      imagesPerSecond: await sharpRate(files, k),
    });
  }
  for (
    const [which, label] of [["opencv", "python3-opencv INTER_AREA"], ["pil", "python3-pil LANCZOS"]] as const
  ) {
    const r = await pythonRate(files, which);
    rows.push(
      typeof r === "number"
        ? { pipeline: label, inFlight: 1, images: total, imagesPerSecond: r }
        : { pipeline: label, inFlight: 1, images: total, imagesPerSecond: null, note: r },
    );
  }
  rows.push({
    pipeline: "augment 224 (TypeScript)",
    inFlight: 1,
    images: 500,
    imagesPerSecond: augmentRate(500),
  });
  console.log(
    `decode + resize to ${SIZE}x${SIZE} grey, ${sample.length} NIH sample PNGs x ${total} images, ` +
      `${navigator.hardwareConcurrency} CPUs`,
  );
  for (const r of rows) {
    const rate = r.imagesPerSecond === null ? r.note : `${r.imagesPerSecond.toFixed(1)} img/s`;
    console.log(`  ${r.pipeline.padEnd(32)} in flight ${String(r.inFlight).padStart(2)}  ${rate}`);
  }
  console.log(JSON.stringify({ bench: "preprocess", size: SIZE, rows }));
}
