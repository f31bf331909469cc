/**
 * The whole workflow on the embedded defaults: a synthetic data set in the NIH layout, its labels and a
 * patient-wise split, the round trip through blob storage (Azurite, started in-process), and the notebooks
 * executed into HTML reports. It grows with each workflow step.
 *
 * @module
 */
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadSettings, type Settings } from "../config.ts";
import { CxrError } from "../errors.ts";
import { Progress } from "../progress.ts";
import {
  labelStatistics,
  officialSplit,
  readEntries,
  readSplitList,
  synthesize,
  type SynthSummary,
  writeSplit,
} from "../nih/mod.ts";
import {
  connectStorage,
  type DatasetTransferSummary,
  downloadDataset,
  ensureContainers,
  type TransferSummary,
  uploadDataset,
} from "../storage/mod.ts";
import { NOTEBOOK_RUN_ORDER, type NotebookResult, runNotebook } from "../report/mod.ts";
import { DockerClient } from "../docker/mod.ts";

/** The notebooks the demo executes, in run order ({@linkcode NOTEBOOK_RUN_ORDER}: 02 after 03 and 04). */
export const DEMO_NOTEBOOKS: readonly string[] = NOTEBOOK_RUN_ORDER.map((nb) => `notebooks/${nb}.ipynb`);

/** The base image `scripts/services.sh` builds where no base image can be pulled. */
export const LOCAL_BASE_IMAGE = "cxr-local/bookworm:base";

/** Whether a Docker engine answers, and the base image to build from. */
export interface DockerAvailability {
  /** `null` when an engine answers, else why the Docker notebook cannot run. */
  unavailable: string | null;
  /** {@link LOCAL_BASE_IMAGE} when the engine has it, else `null` (the Dockerfiles' own bases are pulled). */
  localBase: string | null;
}

/**
 * Asks the Docker engine (`CXR_DOCKER_HOST`, `DOCKER_HOST`, else /var/run/docker.sock) whether it answers and
 * has the local base image.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const d = await dockerAvailability({ socket: "/nonexistent/docker.sock" });
 * assert.match(d.unavailable!, /docker\.sock/);
 * assert.equal(d.localBase, null);
 * ```
 */
export async function dockerAvailability(options: { socket?: string } = {}): Promise<DockerAvailability> {
  let client: DockerClient;
  try {
    client = await DockerClient.connect(options);
  } catch (e) {
    return { unavailable: (e as Error).message, localBase: null };
  }
  try {
    await client.inspectImage(LOCAL_BASE_IMAGE);
    return { unavailable: null, localBase: LOCAL_BASE_IMAGE };
  } catch {
    return { unavailable: null, localBase: null };
  } finally {
    client.close();
  }
}

/** Options of {@linkcode runDemo}. */
export interface DemoOptions {
  /** Synthetic images to generate. @default 300 */
  images?: number | undefined;
  /** Side of the synthetic images in pixels. @default 1024, as NIH's */
  size?: number | undefined;
  /** Seed of the data and the split. @default 1 */
  seed?: number | undefined;
  /** Notebooks to execute into reports; `[]` for none. @default {@linkcode DEMO_NOTEBOOKS} */
  notebooks?: readonly string[] | undefined;
  /** Where reports go. @default "reports" */
  reportsDir?: string | undefined;
  /** Settings; the demo always uses the embedded Azurite under `<workDir>/demo/azurite`. @default loadSettings() */
  settings?: Settings | undefined;
  /** Show progress bars. @default true */
  progress?: boolean | undefined;
  /** Receives one line per finished step. */
  log?: ((line: string) => void) | undefined;
}

/** What the demo made, and where. */
export interface DemoSummary {
  /** The synthetic data set. */
  data: SynthSummary;
  /** Images and patients per partition, and the split file. */
  split: { file: string; images: Record<string, number>; patients: Record<string, number>; digest: string };
  /** The blob round trip: what went up, what came back down on the "training side". */
  storage: {
    endpoint: string;
    upload: Omit<TransferSummary, "failures">;
    download: Omit<TransferSummary, "failures">;
    trainingCopy: string;
  };
  /** Executed notebooks. */
  reports: NotebookResult[];
  /** Notebooks not executed, and why (notebook 02 without a Docker engine). */
  skipped: { notebook: string; reason: string }[];
  /** What the run made, by name, with the path (only those that exist). */
  artefacts: { name: string; path: string }[];
  /** Wall time of each step in seconds. */
  seconds: Record<string, number>;
}

/** The demo failed at a step; `step` names it. */
export class DemoError extends CxrError {
  /** @param detail What went wrong; the message is `demo step "<step>" failed: <detail>`. */
  constructor(detail: string, readonly step: string, options?: ErrorOptions) {
    super(`demo step "${step}" failed: ${detail}`, options);
  }
}

/**
 * Runs the demo. Idempotent: a second run reuses the data and the blobs already there.
 *
 * @throws {DemoError} naming the step that failed (a notebook cell, a transfer with failed files).
 * @example
 * ```ts ignore
 * const summary = await runDemo({ images: 100 });
 * console.log(summary.reports.map((r) => r.html));
 * ```
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoSummary> {
  const demo = startDemo(options);
  const data = await timed(demo, "synthesize", () => synthesizeData(demo, options));
  demo.log(`data: ${data.images} synthetic images of ${data.patients} patients in ${demo.dataDir}`);
  const split = await timed(demo, "split", () => writeDemoSplit(demo, options.seed ?? 1));
  const storage = await timed(demo, "storage", () => storageRoundTrip(demo));
  const { reports, skipped } = await runNotebooks(demo, options.notebooks ?? DEMO_NOTEBOOKS);
  const artefacts = listArtefacts(demo, split.file);
  return { data, split, storage, reports, skipped, artefacts, seconds: demo.seconds };
}

/** One demo run: its settings (the embedded Azurite under `<workDir>/demo`), folders, log and step times. */
type Demo = ReturnType<typeof startDemo>;

function startDemo(options: DemoOptions) {
  const base = options.settings ?? loadSettings();
  const dir = join(base.workDir, "demo");
  const settings: Settings = {
    ...base,
    storage: {
      ...base.storage,
      mode: "azurite",
      connectionString: undefined,
      azuriteDir: join(dir, "azurite"),
      azuritePort: 0,
    },
  };
  const dataDir = join(dir, "nih");
  mkdirSync(dataDir, { recursive: true });
  return {
    workDir: base.workDir,
    settings,
    dir,
    dataDir,
    /** The copy that came back from blob storage, as on the training VM. */
    trainingCopy: join(dir, "training-side"),
    cacheDir: join(dir, "train", "cache"),
    runDir: join(dir, "train", "run"),
    evalDir: join(dir, "train", "eval"),
    reportsDir: resolve(options.reportsDir ?? "reports"),
    log: options.log ?? ((line: string) => console.error(line)),
    showProgress: options.progress ?? true,
    seconds: {} as Record<string, number>,
  };
}

/** Runs one step, timing it into `demo.seconds`; any failure becomes a {@linkcode DemoError} naming it. */
async function timed<T>(demo: Demo, step: string, f: () => Promise<T> | T): Promise<T> {
  const t = performance.now();
  try {
    return await f();
  } catch (e) {
    if (e instanceof DemoError) throw e;
    throw new DemoError((e as Error).message, step, { cause: e });
  } finally {
    demo.seconds[step] = Math.round((performance.now() - t) / 100) / 10;
  }
}

/** Step "synthesize": the synthetic data set in the NIH layout. */
async function synthesizeData(demo: Demo, options: DemoOptions): Promise<SynthSummary> {
  const p = demo.showProgress ? new Progress({ label: "synthesize" }) : undefined;
  const s = await synthesize(demo.dataDir, {
    images: options.images ?? 300,
    size: options.size ?? 1024,
    seed: options.seed ?? 1,
    onProgress: (e) => p?.update(e.done, e.total),
  });
  p?.finish();
  return s;
}

/** Step "split": the official patient-wise split, written to `<demo>/split.json`. */
function writeDemoSplit(demo: Demo, seed: number): DemoSummary["split"] {
  const { dataDir } = demo;
  const entries = readEntries(join(dataDir, "Data_Entry_2017.csv"));
  const { split } = officialSplit(
    entries,
    readSplitList(join(dataDir, "train_val_list.txt")),
    readSplitList(join(dataDir, "test_list.txt")),
    { seed },
  );
  const file = join(demo.dir, "split.json");
  writeSplit(file, split);
  const stats = labelStatistics(entries.entries, { split });
  const images = Object.fromEntries(Object.entries(split.images).map(([k, v]) => [k, v.length]));
  demo.log(
    `split: ${JSON.stringify(images)} images, ${stats.counts["No Finding"]} without findings -> ${file}`,
  );
  return { file, images, patients: { ...split.patients }, digest: split.digest };
}

/** The counts of a data set transfer; a failed file stops the demo. */
function stopOnFailure(s: DatasetTransferSummary): Omit<TransferSummary, "failures"> {
  const failed = s.rows.find((r) => r.failed > 0);
  if (failed) {
    const [first] = failed.failures;
    throw new DemoError(
      `${s.direction} ${failed.role}: ${failed.failed} files failed, first: ${first?.name}: ${first?.reason}`,
      "storage",
    );
  }
  return s.total;
}

/** Step "storage": the data set up to blob storage and back down into the "training side" copy, as notebook 01 does. */
async function storageRoundTrip(demo: Demo): Promise<DemoSummary["storage"]> {
  const { dataDir, trainingCopy } = demo;
  await using conn = await connectStorage(demo.settings);
  await ensureContainers(conn.store, conn.containers);
  const options = { roles: ["metadata", "images"] as const, progress: demo.showProgress };
  const upload = stopOnFailure(await uploadDataset(dataDir, conn, options));
  const download = stopOnFailure(await downloadDataset(conn, trainingCopy, options));
  demo.log(
    `storage: ${upload.files} blobs uploaded (${upload.skipped} already there), ${download.files} downloaded to ${trainingCopy}`,
  );
  return { endpoint: conn.endpoint, upload, download, trainingCopy };
}

/** Parameters per notebook: everything the demo makes stays under `<workDir>/demo`. */
function notebookParams(demo: Demo, docker: DockerAvailability): Record<string, Record<string, string>> {
  const { dir: demoDir, trainingCopy, cacheDir, runDir, evalDir } = demo;
  const imagesDir = join(trainingCopy, "images");
  return {
    "00_setup_vm.ipynb": { envFile: join(demoDir, "demo.env") },
    "01_fetch_data.ipynb": {
      dataDir: trainingCopy,
      synthImages: "0",
      splitFile: join(demoDir, "split-notebook.json"),
      trainingDir: join(demoDir, "training-side-notebook"),
    },
    // Training reads the copy that came back from blob storage, as on the training VM.
    "03_train.ipynb": {
      dataDir: trainingCopy,
      synthImages: "0",
      cacheDir,
      outDir: runDir,
    },
    "04_score.ipynb": {
      dataDir: trainingCopy,
      cacheDir,
      modelDir: join(runDir, "best"),
      chartsDir: evalDir,
    },
    "02_build_image.ipynb": {
      modelDir: join(runDir, "best"),
      tag: DEMO_IMAGE_TAG,
      historyDir: join(demoDir, "docker-history"),
      sampleImage: join(imagesDir, firstImage(imagesDir)),
      // Where the engine has the local base (scripts/services.sh), build from it; and never download
      // libtensorflow in the demo: training ran on the local backend.
      ...(docker.localBase ? { scoringBase: docker.localBase, trainingBase: docker.localBase } : {}),
      tfjsNodeGpu: "false",
    },
    "05_deploy.ipynb": {
      kubeconfig: "",
      image: `cxr-scoring:${DEMO_IMAGE_TAG}`,
      overlay: "local",
      replicas: "1",
      imagesDir,
    },
  };
}

/** Steps "report <notebook>": each notebook executed into `reportsDir` (02 skipped without a Docker engine). */
async function runNotebooks(
  demo: Demo,
  notebooks: readonly string[],
): Promise<Pick<DemoSummary, "reports" | "skipped">> {
  const docker = notebooks.some((nb) => nb.endsWith("02_build_image.ipynb"))
    ? await dockerAvailability()
    : { unavailable: null, localBase: null };
  const params = notebookParams(demo, docker);
  const reports: NotebookResult[] = [];
  const skipped: { notebook: string; reason: string }[] = [];
  for (const nb of notebooks) {
    const name = nb.replace(/^.*\//, "");
    if (name === "02_build_image.ipynb" && docker.unavailable) {
      const reason = `no Docker engine: ${docker.unavailable} (scripts/services.sh starts one)`;
      skipped.push({ notebook: nb, reason });
      demo.log(`report: ${name} skipped, ${reason}`);
      continue;
    }
    const result = await timed(demo, `report ${name}`, () => {
      if (!existsSync(nb)) {
        throw new Error(`notebook "${nb}" does not exist (run the demo from the repository root)`);
      }
      return runNotebook(nb, demo.reportsDir, {
        params: params[name] ?? {},
        // The notebook's own Azurite: a free port and a folder of its own, beside the demo's.
        env: {
          CXR_AZURITE_DIR: join(demo.dir, "azurite-notebook"),
          CXR_AZURITE_PORT: "0",
          CXR_WORK_DIR: demo.workDir,
        },
        onProgress: (e) => {
          if (e.type === "cell" && demo.showProgress) {
            console.error(`  ${name}: cell ${e.number}/${e.total} ${e.seconds.toFixed(1)}s`);
          }
        },
      });
    });
    if (!result.ok) {
      throw new DemoError(
        `cell ${result.error?.cell}: ${result.error?.ename}: ${result.error?.evalue}`,
        `report ${name}`,
      );
    }
    reports.push(result);
    demo.log(`report: ${result.html ?? result.ipynb}`);
  }
  return { reports, skipped };
}

/** What the run made, by name, with the path (only those that exist). */
function listArtefacts(demo: Demo, splitFile: string): DemoSummary["artefacts"] {
  const { runDir } = demo;
  const named: [name: string, path: string][] = [
    ["synthetic data", demo.dataDir],
    ["split", splitFile],
    ["training copy (from blob)", demo.trainingCopy],
    ["preprocessed cache", demo.cacheDir],
    ["training history", join(runDir, "history.jsonl")],
    ["model bundle", join(runDir, "best")],
    ["ONNX model", join(runDir, "best", "model.onnx")],
    ["evaluation (metrics.json, roc.svg, auroc.svg)", demo.evalDir],
    ["image build records", join(demo.dir, "docker-history")],
    ["reports", demo.reportsDir],
  ];
  return named.filter(([, path]) => existsSync(path)).map(([name, path]) => ({ name, path }));
}

/** The tag of the images the demo builds (notebook 05 renders its manifests for it). */
export const DEMO_IMAGE_TAG = "demo";

/** The first PNG of a folder, by name. */
function firstImage(dir: string): string {
  const first = readdirSync(dir).filter((f) => f.endsWith(".png")).sort()[0];
  if (!first) throw new Error(`no PNG in "${dir}"`);
  return first;
}
