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
  downloadPrefix,
  ensureContainers,
  type TransferSummary,
  uploadPath,
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
  images?: number;
  /** Side of the synthetic images in pixels. @default 1024, as NIH's */
  size?: number;
  /** Seed of the data and the split. @default 1 */
  seed?: number;
  /** Notebooks to execute into reports; `[]` for none. @default {@linkcode DEMO_NOTEBOOKS} */
  notebooks?: readonly string[];
  /** Where reports go. @default "reports" */
  reportsDir?: string;
  /** Settings; the demo always uses the embedded Azurite under `<workDir>/demo/azurite`. @default loadSettings() */
  settings?: Settings;
  /** Show progress bars. @default true */
  progress?: boolean;
  /** Receives one line per finished step. */
  log?: (line: string) => void;
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
export class DemoError extends Error {
  /** The step that failed. */
  step: string;
  constructor(step: string, message: string, options?: ErrorOptions) {
    super(`demo step "${step}" failed: ${message}`, options);
    this.name = "DemoError";
    this.step = step;
  }
}

/** A transfer summary without its failure list (the demo stops on any failure). */
function counts({ failures: _, ...rest }: TransferSummary): Omit<TransferSummary, "failures"> {
  return rest;
}

/** Adds two transfer summaries. */
function addSummaries(a: TransferSummary, b: TransferSummary): TransferSummary {
  return {
    files: a.files + b.files,
    bytes: a.bytes + b.bytes,
    skipped: a.skipped + b.skipped,
    failed: a.failed + b.failed,
    failures: [...a.failures, ...b.failures],
  };
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
  const base = options.settings ?? loadSettings();
  const demoDir = join(base.workDir, "demo");
  const settings: Settings = {
    ...base,
    storage: {
      ...base.storage,
      mode: "azurite",
      connectionString: undefined,
      azuriteDir: join(demoDir, "azurite"),
      azuritePort: 0,
    },
  };
  const log = options.log ?? ((line: string) => console.error(line));
  const showProgress = options.progress ?? true;
  const seconds: Record<string, number> = {};
  const timed = async <T>(step: string, f: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } catch (e) {
      if (e instanceof DemoError) throw e;
      throw new DemoError(step, (e as Error).message, { cause: e });
    } finally {
      seconds[step] = Math.round((performance.now() - t) / 100) / 10;
    }
  };
  const bar = (label: string, unit: "items" | "bytes" = "items") =>
    showProgress ? new Progress({ label, unit }) : undefined;

  const dataDir = join(demoDir, "nih");
  mkdirSync(dataDir, { recursive: true });
  const data = await timed("synthesize", async () => {
    const p = bar("synthesize");
    const s = await synthesize(dataDir, {
      images: options.images ?? 300,
      size: options.size ?? 1024,
      seed: options.seed ?? 1,
      onProgress: (e) => p?.update(e.done, e.total),
    });
    p?.finish();
    return s;
  });
  log(`data: ${data.images} synthetic images of ${data.patients} patients in ${dataDir}`);

  const split = await timed("split", () => {
    const entries = readEntries(join(dataDir, "Data_Entry_2017.csv"));
    const { split } = officialSplit(
      entries,
      readSplitList(join(dataDir, "train_val_list.txt")),
      readSplitList(join(dataDir, "test_list.txt")),
      { seed: options.seed ?? 1 },
    );
    const file = join(demoDir, "split.json");
    writeSplit(file, split);
    const stats = labelStatistics(entries.entries, { split });
    const images = Object.fromEntries(Object.entries(split.images).map(([k, v]) => [k, v.length]));
    log(`split: ${JSON.stringify(images)} images, ${stats.counts["No Finding"]} without findings -> ${file}`);
    return { file, images, patients: { ...split.patients }, digest: split.digest };
  });

  const storage = await timed("storage", async () => {
    await using conn = await connectStorage(settings);
    const { containers } = settings.storage;
    await ensureContainers(conn.store, containers);
    const transfer = async (
      label: string,
      f: (o: { onProgress: (e: { bytes: number; bytesTotal: number }) => void }) => Promise<TransferSummary>,
    ) => {
      const p = bar(label, "bytes");
      const s = await f({ onProgress: (e) => p?.update(e.bytes, e.bytesTotal) });
      p?.finish();
      if (s.failed > 0) {
        throw new DemoError(
          "storage",
          `${label}: ${s.failed} files failed, first: ${s.failures[0]?.name}: ${s.failures[0]?.reason}`,
        );
      }
      return s;
    };
    const imagesUp = await transfer(
      "upload images",
      (o) => uploadPath(join(dataDir, "images"), { store: conn.store, container: containers.images }, o),
    );
    const metaUp = await transfer("upload labels", async (o) => {
      let sum: TransferSummary = { files: 0, bytes: 0, skipped: 0, failed: 0, failures: [] };
      for (const f of ["Data_Entry_2017.csv", "BBox_List_2017.csv", "train_val_list.txt", "test_list.txt"]) {
        sum = addSummaries(
          sum,
          await uploadPath(join(dataDir, f), { store: conn.store, container: containers.metadata }, o),
        );
      }
      return sum;
    });
    const trainingCopy = join(demoDir, "training-side");
    const imagesDown = await transfer(
      "download images",
      (o) =>
        downloadPrefix({ store: conn.store, container: containers.images }, join(trainingCopy, "images"), o),
    );
    const metaDown = await transfer(
      "download labels",
      (o) => downloadPrefix({ store: conn.store, container: containers.metadata }, trainingCopy, o),
    );
    log(
      `storage: ${imagesUp.files + metaUp.files} blobs uploaded (${
        imagesUp.skipped + metaUp.skipped
      } already there), ` +
        `${imagesDown.files + metaDown.files} downloaded to ${trainingCopy}`,
    );
    return {
      endpoint: conn.endpoint,
      upload: counts(addSummaries(imagesUp, metaUp)),
      download: counts(addSummaries(imagesDown, metaDown)),
      trainingCopy,
    };
  });

  const reports: NotebookResult[] = [];
  const docker = (options.notebooks ?? DEMO_NOTEBOOKS).some((nb) => nb.endsWith("02_build_image.ipynb"))
    ? await dockerAvailability()
    : { unavailable: null, localBase: null };
  // Parameters per notebook: everything the demo makes stays under <workDir>/demo.
  const notebookParams: Record<string, Record<string, string>> = {
    "00_setup_vm.ipynb": { envFile: join(demoDir, "demo.env") },
    "01_fetch_data.ipynb": {
      dataDir: storage.trainingCopy,
      synthImages: "0",
      splitFile: join(demoDir, "split-notebook.json"),
      trainingDir: join(demoDir, "training-side-notebook"),
    },
    // Training reads the copy that came back from blob storage, as on the training VM.
    "03_train.ipynb": {
      dataDir: storage.trainingCopy,
      synthImages: "0",
      cacheDir: join(demoDir, "train", "cache"),
      outDir: join(demoDir, "train", "run"),
    },
    "04_score.ipynb": {
      dataDir: storage.trainingCopy,
      cacheDir: join(demoDir, "train", "cache"),
      modelDir: join(demoDir, "train", "run", "best"),
      chartsDir: join(demoDir, "train", "eval"),
    },
    "02_build_image.ipynb": {
      modelDir: join(demoDir, "train", "run", "best"),
      tag: DEMO_IMAGE_TAG,
      historyDir: join(demoDir, "docker-history"),
      sampleImage: join(storage.trainingCopy, "images", firstImage(join(storage.trainingCopy, "images"))),
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
      imagesDir: join(storage.trainingCopy, "images"),
    },
  };
  const reportsDir = resolve(options.reportsDir ?? "reports");
  const skipped: { notebook: string; reason: string }[] = [];
  for (const nb of options.notebooks ?? DEMO_NOTEBOOKS) {
    const name = nb.replace(/^.*\//, "");
    if (name === "02_build_image.ipynb" && docker.unavailable) {
      const reason = `no Docker engine: ${docker.unavailable} (scripts/services.sh starts one)`;
      skipped.push({ notebook: nb, reason });
      log(`report: ${name} skipped, ${reason}`);
      continue;
    }
    const result = await timed(`report ${name}`, () => {
      if (!existsSync(nb)) {
        throw new Error(`notebook "${nb}" does not exist (run the demo from the repository root)`);
      }
      return runNotebook(nb, reportsDir, {
        params: notebookParams[name] ?? {},
        // The notebook's own Azurite: a free port and a folder of its own, beside the demo's.
        env: {
          CXR_AZURITE_DIR: join(demoDir, "azurite-notebook"),
          CXR_AZURITE_PORT: "0",
          CXR_WORK_DIR: base.workDir,
        },
        onProgress: (e) => {
          if (e.type === "cell" && showProgress) {
            console.error(`  ${name}: cell ${e.number}/${e.total} ${e.seconds.toFixed(1)}s`);
          }
        },
      });
    });
    if (!result.ok) {
      throw new DemoError(
        `report ${name}`,
        `cell ${result.error?.cell}: ${result.error?.ename}: ${result.error?.evalue}`,
      );
    }
    reports.push(result);
    log(`report: ${result.html ?? result.ipynb}`);
  }
  const artefacts = [
    ["synthetic data", dataDir],
    ["split", split.file],
    ["training copy (from blob)", storage.trainingCopy],
    ["preprocessed cache", join(demoDir, "train", "cache")],
    ["training history", join(demoDir, "train", "run", "history.jsonl")],
    ["model bundle", join(demoDir, "train", "run", "best")],
    ["ONNX model", join(demoDir, "train", "run", "best", "model.onnx")],
    ["evaluation (metrics.json, roc.svg, auroc.svg)", join(demoDir, "train", "eval")],
    ["image build records", join(demoDir, "docker-history")],
    ["reports", reportsDir],
  ].filter(([, path]) => existsSync(path)).map(([name, path]) => ({ name, path }));
  return { data, split, storage, reports, skipped, artefacts, seconds };
}

/** The tag of the images the demo builds (notebook 05 renders its manifests for it). */
export const DEMO_IMAGE_TAG = "demo";

/** The first PNG of a folder, by name. */
function firstImage(dir: string): string {
  const first = readdirSync(dir).filter((f) => f.endsWith(".png")).sort()[0];
  if (!first) throw new Error(`no PNG in "${dir}"`);
  return first;
}
