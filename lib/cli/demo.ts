/**
 * `deno task demo` (= `deno task cxr demo`): the whole workflow on the embedded defaults.
 *
 * @module
 */
import { type Command, intOption, optionalString } from "./command.ts";
import { runDemo } from "../demo/demo.ts";

/** The `demo` command. */
export const demoCommand: Command = {
  name: "demo",
  summary:
    "Run the whole workflow on a synthetic data set, the embedded Azurite and the CPU: no account, no GPU.",
  details:
    "Generates a synthetic NIH-layout data set under $CXR_WORK_DIR/demo (default .work/demo), computes its " +
    "labels and a patient-wise split, uploads it to an in-process Azurite and downloads it again as the training " +
    "side would, then executes the six notebooks into reports/: setup checks, data, training a tiny DenseNet on " +
    "the copy that came back from blob, evaluation and heatmaps with a local scoring service, the Docker images " +
    "(skipped, with the reason, when no Docker engine answers) and the Kubernetes manifests rendered and " +
    "validated. Running it again reuses what is already there.",
  options: {
    images: { valueName: "N", description: "Synthetic images to generate.", defaultText: "300" },
    size: { valueName: "PX", description: "Side of the synthetic images.", defaultText: "1024" },
    seed: { valueName: "S", description: "Seed of data and split.", defaultText: "1" },
    "no-report": { description: "Skip executing the notebooks." },
    "reports-dir": { valueName: "DIR", description: "Where reports go.", defaultText: "reports" },
  },
  async run(values, ctx) {
    const started = performance.now();
    const summary = await runDemo({
      images: intOption(values, "images", { min: 10, max: 112120, fallback: 300 }),
      size: intOption(values, "size", { min: 64, max: 4096, fallback: 1024 }),
      seed: intOption(values, "seed", { min: 0, fallback: 1 }),
      notebooks: values["no-report"] ? [] : undefined,
      reportsDir: optionalString(values, "reports-dir"),
      log: (line) => ctx.err(line),
    });
    const total = Math.round((performance.now() - started) / 100) / 10;
    if (ctx.json) {
      ctx.out(
        JSON.stringify({ ...summary, data: { ...summary.data }, seconds: { ...summary.seconds, total } }),
      );
      return;
    }
    ctx.out("");
    ctx.out(`Demo finished in ${total}s.`);
    ctx.out(
      `  data          ${summary.data.out} (${summary.data.images} images, ${summary.data.patients} patients)`,
    );
    ctx.out(`  split         ${summary.split.file} ${JSON.stringify(summary.split.images)}`);
    ctx.out(`  blob storage  ${summary.storage.endpoint} (Azurite, data under .work/demo/azurite)`);
    ctx.out(`  training copy ${summary.storage.trainingCopy}`);
    for (const r of summary.reports) ctx.out(`  report        ${r.html ?? r.ipynb}`);
    for (const s of summary.skipped) ctx.out(`  skipped       ${s.notebook}: ${s.reason}`);
    ctx.out("Artefacts:");
    const width = Math.max(...summary.artefacts.map((a) => a.name.length));
    for (const a of summary.artefacts) ctx.out(`  ${a.name.padEnd(width)}  ${a.path}`);
  },
};
