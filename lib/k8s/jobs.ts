/**
 * Indexed Jobs: preprocessing and batch scoring split into N shards. The Job of `k8s/jobs/` gets N as
 * completions, parallelism and `SHARD_COUNT` (each pod runs `--shard env/$(SHARD_COUNT)`), the image and the
 * storage Secret; it is applied and watched until every index succeeded or the Job failed.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { Progress } from "../progress.ts";
import { connectKube, type KubeClient, type ObjectRef, SYSTEM_NAMESPACES } from "./client.ts";
import { kubeCall } from "./_kube_error.ts";
import { K8sError } from "./errors.ts";
import { containersOf } from "./_pod_spec.ts";
import type { K8sObject } from "./object.ts";
import { renderKustomization } from "./render.ts";
import { validateManifests } from "./validate.ts";

/** The Jobs `k8s/jobs/` defines. */
export const JOB_KINDS = ["preprocess", "score"] as const;
/** A Job of {@linkcode JOB_KINDS}. */
export type JobKind = typeof JOB_KINDS[number];

/** Options of {@linkcode renderIndexedJob}. */
export interface IndexedJobRenderOptions {
  /** Number of shards (completions). */
  shards: number;
  /** Pods at once. @default shards */
  parallelism?: number | undefined;
  /** @default "cxr" */
  namespace?: string | undefined;
  /** Variables for the storage Secret (`AZURE_STORAGE_*`); without them the placeholder stays. */
  storageEnv?: Record<string, string> | undefined;
  /** Job name suffix, so a re-run does not collide with the immutable spec of an earlier Job. @default base-36 time */
  suffix?: string | undefined;
}

/** An Indexed Job's state. */
export interface JobStatus {
  name: string;
  namespace: string;
  completions: number;
  succeeded: number;
  failed: number;
  active: number;
  completedIndexes: number[];
  failedIndexes: number[];
  /** Every index succeeded (condition Complete). */
  complete: boolean;
  /** The Job failed (condition Failed); `reason` says why. */
  failedJob: boolean;
  reason?: string;
}

/** The Job failed or ran out of time; `status`, its last status, lists the failed indexes. */
export class JobFailedError extends K8sError {
  constructor(message: string, readonly status: JobStatus) {
    super(message);
  }
}

const JOBS_DIR = fileURLToPath(new URL("../../k8s/jobs", import.meta.url));

/**
 * Parses an index list such as `"0-2,5"` (the Job status format).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(parseIndexes("0-2,5"), [0, 1, 2, 5]);
 * assert.deepEqual(parseIndexes(undefined), []);
 * ```
 */
export function parseIndexes(text: string | undefined): number[] {
  if (!text) return [];
  return text.split(",").flatMap((part) => {
    const [a = 0, b = a] = part.split("-").map(Number); // split gives at least one part
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}

/**
 * The objects for one Indexed Job run: namespace, storage Secret and the Job with N shards.
 *
 * @throws {RangeError} For shards or parallelism below 1.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const objects = renderIndexedJob("score", "acr.example/cxr-scoring:1", { shards: 7, suffix: "t" });
 * const job = objects.find((o) => o.kind === "Job")!;
 * assert.equal(job.metadata.name, "cxr-score-t");
 * assert.equal((job.spec as { completions: number }).completions, 7);
 * assert.deepEqual(objects.map((o) => o.kind), ["Namespace", "Secret", "Job"]);
 * ```
 */
export function renderIndexedJob(
  kind: JobKind,
  image: string,
  options: IndexedJobRenderOptions,
): K8sObject[] {
  if (!JOB_KINDS.includes(kind)) {
    throw new RangeError(`job must be one of: ${JOB_KINDS.join(", ")}; got "${kind}"`);
  }
  const { shards } = options;
  const parallelism = options.parallelism ?? shards;
  for (const [name, n] of [["shards", shards], ["parallelism", parallelism]] as const) {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be an integer >= 1, got ${n}`);
  }
  const objects = renderKustomization(JOBS_DIR, { namespace: options.namespace });
  const kept = objects.filter((o) =>
    (o.kind !== "Job" || o.metadata.name === `cxr-${kind}`) &&
    !(o.kind === "Namespace" && SYSTEM_NAMESPACES.includes(o.metadata.name))
  );
  const job = kept.find((o) => o.kind === "Job");
  if (!job) throw new RangeError(`no Job "cxr-${kind}" in ${JOBS_DIR}`);
  job.metadata.name = `cxr-${kind}-${options.suffix ?? Date.now().toString(36)}`;
  Object.assign(job.spec as object, { completions: shards, parallelism: Math.min(parallelism, shards) });
  for (const c of containersOf(job)) {
    c.image = image;
    for (const e of (c.env as { name: string; value?: string }[] | undefined) ?? []) {
      if (e.name === "SHARD_COUNT") e.value = String(shards);
    }
  }
  if (options.storageEnv) {
    for (const s of kept.filter((o) => o.kind === "Secret" && o.metadata.name === "cxr-storage")) {
      s.stringData = { ...options.storageEnv };
    }
  }
  return kept;
}

function statusOf(job: k8s.V1Job, name: string, namespace: string): JobStatus {
  const s = job.status ?? {};
  const failedCond = s.conditions?.find((c) => c.type === "Failed" && c.status === "True");
  return {
    name,
    namespace,
    completions: job.spec?.completions ?? 1,
    succeeded: s.succeeded ?? 0,
    failed: s.failed ?? 0,
    active: s.active ?? 0,
    completedIndexes: parseIndexes(s.completedIndexes),
    failedIndexes: parseIndexes(s.failedIndexes),
    complete: !!s.conditions?.some((c) => c.type === "Complete" && c.status === "True"),
    failedJob: !!failedCond,
    ...(failedCond ? { reason: `${failedCond.reason ?? "Failed"}: ${failedCond.message ?? ""}` } : {}),
  };
}

/** Options of {@linkcode watchJob}. */
export interface WatchJobOptions {
  /** @default 86400 */
  timeoutSeconds?: number | undefined;
  /** @default 5000 */
  pollMs?: number | undefined;
  /** Each poll's status. */
  onProgress?: ((status: JobStatus) => void) | undefined;
}

/**
 * Polls a Job until it is complete.
 *
 * @throws {JobFailedError} When the Job fails or the time runs out, with the failed indexes.
 * @example
 * ```ts ignore
 * const status = await watchJob(connectKube("aks.kubeconfig"), "cxr", "cxr-score-abc");
 * ```
 */
export async function watchJob(
  client: KubeClient,
  namespace: string,
  name: string,
  options: WatchJobOptions = {},
): Promise<JobStatus> {
  const batch = client.api(k8s.BatchV1Api);
  const timeoutSeconds = options.timeoutSeconds ?? 86400;
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (true) {
    const job = await kubeCall(
      client.server,
      `Reading Job "${namespace}/${name}"`,
      () => batch.readNamespacedJob({ name, namespace }),
    );
    const status = statusOf(job, name, namespace);
    options.onProgress?.(status);
    if (status.complete) return status;
    const succeeded = `(${status.succeeded}/${status.completions} succeeded)`;
    if (status.failedJob) {
      const failed = status.failedIndexes.join(", ") || "none";
      throw new JobFailedError(
        `Job "${name}" failed: ${status.reason}; failed indexes: ${failed} ${succeeded}; ` +
          "re-run just those shards with --shard i/N",
        status,
      );
    }
    if (Date.now() > deadline) {
      throw new JobFailedError(`Job "${name}" not complete after ${timeoutSeconds} s ${succeeded}`, status);
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 5000));
  }
}

/** Options of {@linkcode runIndexedJob}. */
export interface RunIndexedJobOptions extends IndexedJobRenderOptions, WatchJobOptions {
  /** Kubeconfig context. @default its current-context */
  context?: string | undefined;
  /** Watch until done. @default true */
  wait?: boolean | undefined;
  /** Draw completions as a progress display. @default false */
  progress?: boolean | undefined;
}

/**
 * Creates the Indexed Job for `kind` with N shards and watches its completions.
 *
 * @throws {JobFailedError} Naming the failed indexes.
 * @example
 * ```ts ignore
 * const s = await runIndexedJob("aks.kubeconfig", "score", "myacr.azurecr.io/cxr-scoring:1", { shards: 8 });
 * ```
 */
export async function runIndexedJob(
  kubeconfig: string,
  kind: JobKind,
  image: string,
  options: RunIndexedJobOptions,
): Promise<{ server: string; applied: ObjectRef[]; job: string; namespace: string; status?: JobStatus }> {
  const objects = renderIndexedJob(kind, image, options);
  validateManifests(objects);
  const client = connectKube(kubeconfig, { context: options.context });
  const applied = await client.applyAll(objects);
  const job = objects.find((o) => o.kind === "Job")!;
  const out = { server: client.server, applied, job: job.metadata.name, namespace: job.metadata.namespace! };
  if (options.wait === false) return out;
  const bar = options.progress
    ? new Progress({ label: `job ${job.metadata.name}`, total: options.shards })
    : undefined;
  try {
    const status = await watchJob(client, out.namespace, out.job, {
      timeoutSeconds: options.timeoutSeconds,
      pollMs: options.pollMs,
      onProgress: (s) => {
        bar?.update(
          s.succeeded + s.failed,
          s.completions,
          s.failed ? `failed: ${s.failedIndexes.join(",")}` : undefined,
        );
        options.onProgress?.(s);
      },
    });
    return { ...out, status };
  } finally {
    bar?.finish();
  }
}
