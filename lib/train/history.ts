/**
 * The training history: one JSON line per epoch in `history.jsonl`, a table and an SVG loss chart for
 * Jupyter, and {@linkcode trainingDisplay}, which turns training events into a live display.
 *
 * @module
 */
import { writeAtomic } from "../write_atomic.ts";
import { readFileSync } from "node:fs";
import type { AurocTable } from "../auroc.ts";
import { htmlTable, JUPYTER_DISPLAY, svgOpen, withDisplay } from "../display.ts";
import { broadcastDisplay, inJupyter, Progress } from "../progress.ts";
import { HistorySyntaxError } from "./errors.ts";
import type { EpochRecord, TrainEvent } from "./events.ts";

/**
 * Writes the history file whole (temporary file, then rename), one JSON object per line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const file = Deno.makeTempDirSync() + "/history.jsonl";
 * const r = { epoch: 1, loss: 0.5, val_loss: 0.4, val_auroc: { a: 0.7 }, mean_auroc: 0.7, lr: 1e-3, seconds: 2, "images/s": 8 };
 * await writeHistory(file, [r]);
 * assert.deepEqual(readHistory(file), [r]);
 * ```
 */
export async function writeHistory(file: string, records: readonly EpochRecord[]): Promise<void> {
  await writeAtomic(file, records.map((r) => JSON.stringify(r) + "\n").join(""));
}

/**
 * Reads `history.jsonl`.
 *
 * @throws {HistorySyntaxError} naming the file and line of a line that is not JSON.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const file = Deno.makeTempDirSync() + "/h.jsonl";
 * Deno.writeTextFileSync(file, '{"epoch":1}\nnot json\n');
 * assert.throws(() => readHistory(file), /h\.jsonl" at line 2/);
 * ```
 */
export function readHistory(file: string): EpochRecord[] {
  return readFileSync(file, "utf8").split("\n").flatMap((line, i) => {
    if (line.trim() === "") return [];
    try {
      return [JSON.parse(line) as EpochRecord];
    } catch (e) {
      const message = `Cannot read history "${file}" at line ${i + 1}, column 1: ${(e as Error).message}`;
      throw new HistorySyntaxError(message, file, i + 1, 1, { cause: e });
    }
  });
}

const fmt = (v: number | null, digits = 4) => (v === null || !Number.isFinite(v) ? "–" : v.toFixed(digits));

/**
 * An SVG line chart of training and validation loss per epoch (and mean AUROC on a second scale).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const r = { epoch: 1, loss: 0.5, val_loss: 0.4, val_auroc: {}, mean_auroc: 0.7, lr: 1e-3, seconds: 2, "images/s": 8 };
 * const svg = lossChartSvg([r, { ...r, epoch: 2, loss: 0.3, val_loss: 0.35 }]);
 * assert.match(svg, /^<svg[^>]*>.*<polyline .*val_loss/s);
 * ```
 */
export function lossChartSvg(records: readonly EpochRecord[]): string {
  const w = 520, h = 260;
  const left = 50, right = 60, top = 24, bottom = 34; // right: room for the "AUROC 1" label
  const pw = w - left - right, ph = h - top - bottom;
  const losses = records.flatMap((r) => [r.loss, r.val_loss]).filter(Number.isFinite);
  const maxLoss = losses.length ? Math.max(...losses) * 1.05 : 1;
  const epochs = Math.max(2, ...records.map((r) => r.epoch));
  const x = (e: number) => left + ((e - 1) / (epochs - 1)) * pw;
  const yLoss = (v: number) => top + ph - (v / maxLoss) * ph;
  const yAuc = (v: number) => top + ph - v * ph;
  const line = (pts: [number, number][], color: string, name: string, dash = "") => {
    if (pts.length === 0) return "";
    const xy = pts.map(([a, b]) => [a.toFixed(1), b.toFixed(1)]);
    const dashes = dash ? ` stroke-dasharray="${dash}"` : "";
    const points = xy.map((p) => p.join(",")).join(" ");
    const dots = xy.map(([a, b]) => `<circle cx="${a}" cy="${b}" r="3" fill="${color}"/>`).join("");
    return `<polyline fill="none" stroke="${color}" stroke-width="2"${dashes} points="${points}">` +
      `<title>${name}</title></polyline>${dots}`;
  };
  const parts = [
    svgOpen(w, h, { viewBox: false }),
    `<text x="${left}" y="15" font-size="13">Loss per epoch</text>`,
    `<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
    `<text x="${left - 4}" y="${top + 4}" text-anchor="end">${maxLoss.toFixed(3)}</text>`,
    `<text x="${left - 4}" y="${top + ph}" text-anchor="end">0</text>`,
    `<text x="${left + pw + 4}" y="${top + 4}">AUROC 1</text>`,
    `<text x="${left + pw + 4}" y="${top + ph}">0</text>`,
    `<text x="${left}" y="${h - 8}">epoch 1</text>`,
    `<text x="${left + pw}" y="${h - 8}" text-anchor="end">${epochs}</text>`,
    line(records.map((r) => [x(r.epoch), yLoss(r.loss)]), "#1f77b4", "loss"),
    line(records.map((r) => [x(r.epoch), yLoss(r.val_loss)]), "#d62728", "val_loss"),
    line(
      records.filter((r) => r.mean_auroc !== null).map((r) => [x(r.epoch), yAuc(r.mean_auroc!)]),
      "#2ca02c",
      "mean_auroc",
      "4 3",
    ),
    `<text x="${left + pw - 4}" y="${top + 14}" text-anchor="end"><tspan fill="#1f77b4">loss</tspan> ` +
    `<tspan fill="#d62728">val_loss</tspan> <tspan fill="#2ca02c">mean AUROC</tspan></text>`,
    `</svg>`,
  ];
  return parts.join("");
}

/**
 * The history as a value that renders as a table in Jupyter (epoch, losses, mean AUROC, lr, time,
 * throughput) and as plain records elsewhere.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const r = { epoch: 1, loss: 0.5, val_loss: 0.4, val_auroc: {}, mean_auroc: 0.7, lr: 1e-3, seconds: 2, "images/s": 8 };
 * import { JUPYTER_DISPLAY } from "../display.ts";
 * const h = new TrainingHistory([r]);
 * const shown = h[JUPYTER_DISPLAY]();
 * assert.match(shown["text/html"] ?? "", /<table>.*0\.7000/s);
 * ```
 */
export class TrainingHistory {
  /** @param records the epochs. */
  constructor(readonly records: readonly EpochRecord[]) {}

  /** HTML table and plain text for Jupyter. */
  [JUPYTER_DISPLAY](): Record<string, string> {
    const head = ["epoch", "loss", "val_loss", "mean AUROC", "lr", "seconds", "images/s"];
    const rows = this.records.map((r) => [
      String(r.epoch),
      fmt(r.loss),
      fmt(r.val_loss),
      fmt(r.mean_auroc),
      r.lr.toExponential(1),
      r.seconds.toFixed(1),
      r["images/s"].toFixed(1),
    ]);
    return {
      "text/html": htmlTable(head, rows),
      "text/plain": [head, ...rows].map((r) => r.join("\t")).join("\n"),
    };
  }
}

/** Options of {@linkcode trainingDisplay}. */
export interface TrainingDisplayOptions {
  /** Where text lines go. @default stderr (console.log in Jupyter) */
  write?: (line: string) => void;
  /** Progress bar mode, passed to {@linkcode Progress}. @default picked by Progress */
  mode?: "tty" | "lines" | "jupyter" | "none";
}

/** "tfjs with 2 gradient threads", "ONNX Runtime: 2 workers x 1 thread", "ONNX Runtime on GPUs 0, 1". */
function engineText(event: Extract<TrainEvent, { type: "start" }>): string {
  const n = (count: number, what: string) => `${count} ${what}${count === 1 ? "" : "s"}`;
  const workers = event.workers ?? 1;
  if (event.engine !== "onnx") return `tfjs with ${n(workers, "gradient thread")}`;
  if (event.devices?.length) {
    return `ONNX Runtime on GPU${event.devices.length > 1 ? "s" : ""} ${event.devices.join(", ")}`;
  }
  return `ONNX Runtime: ${n(workers, "worker")} x ${n(event.threads ?? 1, "thread")}`;
}

/**
 * Turns training events into a display: a text line when training starts or resumes, a {@linkcode Progress}
 * bar per epoch, a line per finished epoch and, in Jupyter, an SVG loss chart updated in place.
 *
 * @returns an `onProgress` callback for `train`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const show = trainingDisplay({ write: (l) => lines.push(l), mode: "none" });
 * show({ type: "start", backend: "cpu", epochs: 3, startEpoch: 2, resumedFrom: "out/checkpoints/epoch-001-val-0.5000", train: 10, val: 4, batchSize: 2, microBatch: 2 });
 * assert.match(lines[0] ?? "", /Resuming from checkpoint .*epoch-001.* at epoch 2 of 3/);
 * ```
 */
export function trainingDisplay(options: TrainingDisplayOptions = {}): (event: TrainEvent) => void {
  const jupyter = inJupyter();
  const encoder = new TextEncoder();
  const write = options.write ??
    ((l: string) => jupyter ? console.log(l) : Deno.stderr.writeSync(encoder.encode(l + "\n")));
  const chartId = `cxr-loss-chart-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  let chartShown = false;
  let bar: Progress | undefined;
  let barEpoch = 0;
  const records: EpochRecord[] = [];
  return (event) => {
    if (event.type === "start") {
      records.length = 0;
      records.push(...(event.history ?? []));
      write(
        event.resumedFrom && event.startEpoch > event.epochs
          ? `Nothing left to train: checkpoint "${event.resumedFrom}" already has all ${event.epochs} epochs`
          : event.resumedFrom
          ? `Resuming from checkpoint "${event.resumedFrom}" at epoch ${event.startEpoch} of ${event.epochs}`
          : `Training on ${event.backend}: ${event.train} images, ${event.val} for validation, ` +
            `batch ${event.batchSize} (micro-batch ${event.microBatch}), ${event.epochs} epochs` +
            `, ${engineText(event)}`,
      );
      const f = event.freeze;
      if (f && f.freeze !== "none") {
        const [trained, frozen] = [f.trainableParams, f.frozenParams].map((n) => n.toLocaleString("en"));
        write(
          `Freeze ${f.freeze}: training ${f.trainableLayers} layers (${trained} parameters), ` +
            `${f.frozenLayers} frozen (${frozen}; their BatchNorm layers use moving statistics)`,
        );
      }
    } else if (event.type === "init") {
      const i = event.init;
      const from = i.source === "imagenet" ? "ImageNet weights" : "a Keras weights file";
      write(
        i.source === "none"
          ? "Starting from random weights (--init none)"
          : `Starting from ${from}: ${i.path} (md5 ${i.md5}, ${i.status}), ${i.loaded} weights loaded` +
            (i.fresh.length ? `, head ${i.fresh.length} fresh` : "") +
            (i.missing.length ? `, ${i.missing.length} not in the file: ${i.missing.join(", ")}` : "") +
            (i.unused.length ? `, ${i.unused.length} in the file unused: ${i.unused.join(", ")}` : ""),
      );
    } else if (event.type === "batch") {
      if (!bar || barEpoch !== event.epoch) {
        bar?.finish();
        barEpoch = event.epoch;
        bar = new Progress({
          label: `epoch ${event.epoch}/${event.epochs}`,
          total: event.batches,
          mode: options.mode,
          itemName: "step", // "3.2 s/step" once a step takes more than a second, not "0/s"
        });
      }
      const rate = event["images/s"] === undefined ? "" : `, ${event["images/s"].toFixed(2)} images/s`;
      bar.update(event.batch, event.batches, `loss ${event.loss.toFixed(4)}${rate}`);
    } else if (event.type === "epoch") {
      const r = event.record;
      bar?.finish(`loss ${fmt(r.loss)} val_loss ${fmt(r.val_loss)} mean AUROC ${fmt(r.mean_auroc)}`);
      bar = undefined;
      records.push(r);
      write(
        `epoch ${r.epoch}: loss ${fmt(r.loss)} val_loss ${fmt(r.val_loss)} mean AUROC ${fmt(r.mean_auroc)} ` +
          `lr ${r.lr.toExponential(1)} ${r["images/s"].toFixed(1)} images/s${event.best ? " (best)" : ""}`,
      );
      if (jupyter) {
        const data = {
          "image/svg+xml": lossChartSvg(records),
          "text/plain": `loss chart, ${records.length} epochs`,
        };
        const content = { data, metadata: {}, transient: { display_id: chartId } };
        broadcastDisplay(chartShown ? "update_display_data" : "display_data", content);
        chartShown = true;
      }
    } else if (event.type === "stop") {
      write(event.reason);
    }
  };
}

/** Per-class AUROC and their mean, which render as a table in Jupyter; see {@linkcode aurocTable}. */
export type AurocTableView = Pick<AurocTable, "perClass" | "mean">;

/**
 * Wraps per-class AUROC values (e.g. a history record's `val_auroc`) so Jupyter shows them as a table with
 * the mean in the last row; undefined classes show as "–" (no positive or no negative example).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const t = aurocTable({ Mass: 0.8, Hernia: null });
 * assert.equal(t.mean, 0.8);
 * const html = (t as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for("Jupyter.display")]?.()["text/html"];
 * assert.match(html ?? "", /<td>Hernia<\/td><td>–<\/td>.*mean.*0\.8000/s);
 * ```
 */
export function aurocTable(perClass: Record<string, number | null>): AurocTableView {
  const defined = Object.values(perClass).filter((v): v is number => v !== null);
  const mean = defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : null;
  return withDisplay({ perClass: { ...perClass }, mean }, () => {
    const rows = [...Object.entries(perClass), ["mean (defined classes)", mean] as const];
    return {
      "text/html": htmlTable(["finding", "AUROC"], rows.map(([k, v]) => [k, fmt(v)])),
      "text/plain": rows.map(([k, v]) => `${k.padEnd(24)} ${fmt(v)}`).join("\n"),
    };
  });
}
