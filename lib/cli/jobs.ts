/**
 * `deno task cxr jobs run preprocess|score --shards N`: an Indexed Job of N pods, pod i running the same CLI
 * command with `--shard env/N` (i from `JOB_COMPLETION_INDEX`), watched until every shard is done.
 *
 * @module
 */
import { type Command, intOption, optionalString, stringOption, UsageError } from "./command.ts";
import { loadSettings, type Settings } from "../config.ts";
import { CLUSTER_OPTIONS } from "./deploy.ts";
import { JOB_KINDS, type JobKind, runIndexedJob } from "../k8s/mod.ts";

/**
 * The settings the pods need to reach blob storage, as environment variables for the storage Secret.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "../config.ts";
 * const env = storageEnvOf(loadSettings({ env: { AZURE_STORAGE_ACCOUNT: "acct", AZURE_STORAGE_KEY: "a2V5a2V5a2V5" }, envFile: false }));
 * assert.equal(env.AZURE_STORAGE_KEY, "a2V5a2V5a2V5");
 * assert.equal(env.CXR_STORAGE, "azure");
 * assert.equal(env.CXR_CONTAINER_IMAGES, "nih-images");
 * ```
 */
export function storageEnvOf(settings: Settings): Record<string, string> {
  const s = settings.storage;
  const env: Record<string, string> = { CXR_STORAGE: s.mode };
  if (s.connectionString) env.AZURE_STORAGE_CONNECTION_STRING = s.connectionString.reveal();
  if (s.account) env.AZURE_STORAGE_ACCOUNT = s.account;
  if (s.accountKey) env.AZURE_STORAGE_KEY = s.accountKey.reveal();
  if (s.sasToken) env.AZURE_STORAGE_SAS_TOKEN = s.sasToken.reveal();
  for (const [role, name] of Object.entries(s.containers)) env[`CXR_CONTAINER_${role.toUpperCase()}`] = name;
  return env;
}

/** `jobs run`. With `--json`: `{server, job, namespace, applied, status: {completions, succeeded, failed, failedIndexes, complete, ...}}`. */
export const jobsRunCommand: Command = {
  name: "jobs run",
  summary: "Run preprocess or score as a Kubernetes Indexed Job in N shards and watch the shards complete.",
  positionals: "preprocess|score",
  details:
    "Pod i of N runs `cxr <job> --shard env/N` on its slice, reading from and writing to blob storage; " +
    "the pods get this machine's storage settings through the cxr-storage Secret (the embedded Azurite is not " +
    "reachable from a cluster: set AZURE_STORAGE_* first). Exit code 1 names the failed indexes.",
  options: {
    shards: { valueName: "N", required: true, description: "Number of shards (completions)." },
    kubeconfig: { valueName: "FILE", required: true, description: "Kubeconfig." },
    image: { valueName: "IMAGE", required: true, description: "Image the pods run." },
    parallelism: { valueName: "P", description: "Pods at once.", defaultText: "N" },
    ...CLUSTER_OPTIONS,
    "no-wait": { description: "Create the Job and return." },
    timeout: { valueName: "S", description: "Time limit in seconds.", defaultText: "86400" },
    "poll-ms": { valueName: "MS", description: "Between status polls.", defaultText: "5000" },
  },
  async run(values, ctx) {
    const [kind = ""] = ctx.positionals;
    if (ctx.positionals.length !== 1 || !(JOB_KINDS as readonly string[]).includes(kind)) {
      throw new UsageError(
        `jobs run takes one of: ${JOB_KINDS.join(", ")}; got "${ctx.positionals.join(" ")}"`,
      );
    }
    const shards = intOption(values, "shards", { min: 1, max: 10000 });
    const settings = loadSettings();
    if (settings.storage.mode === "azurite") {
      ctx.err(
        "warning: storage is the embedded Azurite, which pods in a cluster cannot reach; set AZURE_STORAGE_*",
      );
    }
    const [kubeconfig, image] = [stringOption(values, "kubeconfig"), stringOption(values, "image")];
    const result = await runIndexedJob(kubeconfig, kind as JobKind, image, {
      shards,
      parallelism: intOption(values, "parallelism", { min: 1, optional: true }),
      namespace: optionalString(values, "namespace"),
      context: optionalString(values, "context"),
      storageEnv: storageEnvOf(settings),
      wait: !values["no-wait"],
      timeoutSeconds: intOption(values, "timeout", { min: 1, fallback: 86400 }),
      pollMs: intOption(values, "poll-ms", { min: 10, fallback: 5000 }),
      onProgress: (s) =>
        ctx.err(
          `job ${s.name}: ${s.succeeded}/${s.completions} succeeded, ${s.active} active, ${s.failed} failed` +
            (s.failedIndexes.length ? ` (indexes ${s.failedIndexes.join(",")})` : ""),
        ),
    });
    if (ctx.json) ctx.out(JSON.stringify(result));
    else ctx.out(`job ${result.job} in ${result.namespace}: ${result.status ? "complete" : "created"}`);
  },
};
