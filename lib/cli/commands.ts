/**
 * The registry of CLI commands: each step folder contributes its own `Command` objects here.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { settingsCommand } from "./settings.ts";
import { dataDownloadCommand, dataUploadCommand } from "./data_transfer.ts";
import { dataLabelsCommand, dataSplitCommand } from "./data_split.ts";
import { dataFetchCommand } from "./data_fetch.ts";
import { dataSynthCommand } from "./data_synth.ts";
import { jupyterCommand, reportCommand } from "./report.ts";
import { demoCommand } from "./demo.ts";
import { doctorCommand, gpuSmokeCommand, setupCommand } from "./vm.ts";
import { preprocessCommand } from "./preprocess.ts";
import { trainCommand } from "./train.ts";
import { serveCommand } from "./serve.ts";
import { exportOnnxCommand } from "./export.ts";
import { importKerasCommand } from "./import.ts";
import { evaluateCommand } from "./evaluate.ts";
import { camCommand } from "./cam.ts";
import { scoreCommand } from "./score.ts";
import { deployCommand, k8sRenderCommand, undeployCommand } from "./deploy.ts";
import { jobsRunCommand } from "./jobs.ts";
import { imageBuildCommand, imageListCommand, imagePushCommand } from "./image.ts";

/** Every command `deno task cxr` knows, in the order `--help` lists them. */
export const COMMANDS: Command[] = [
  demoCommand,
  doctorCommand,
  gpuSmokeCommand,
  setupCommand,
  settingsCommand,
  dataFetchCommand,
  dataSynthCommand,
  dataLabelsCommand,
  dataSplitCommand,
  dataUploadCommand,
  dataDownloadCommand,
  preprocessCommand,
  trainCommand,
  imageBuildCommand,
  imagePushCommand,
  imageListCommand,
  serveCommand,
  exportOnnxCommand,
  importKerasCommand,
  evaluateCommand,
  camCommand,
  scoreCommand,
  k8sRenderCommand,
  deployCommand,
  undeployCommand,
  jobsRunCommand,
  reportCommand,
  jupyterCommand,
];
