/**
 * The Kubernetes step: render an overlay of `k8s/` and validate it, apply it with server-side apply, watch
 * the rollout, read the Service's address, call `/score` with the key, and delete everything it created
 * (label `app.kubernetes.io/managed-by: cxr`); run Indexed Jobs and watch their shards. Credentials come from
 * a kubeconfig (an AKS one works unchanged) and are never printed.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { Secret } from "../config.ts";
import { Progress } from "../progress.ts";
import {
  connectKube,
  type KubeClient,
  MANAGED_BY_LABEL,
  MANAGED_KINDS,
  type ObjectRef,
  SYSTEM_NAMESPACES,
} from "./k8s_client.ts";
import { type K8sObject, renderKustomization } from "./k8s_render.ts";
import { type RolloutStatus, type ServiceAddress, serviceAddress, waitForRollout } from "./k8s_rollout.ts";
import { type JobKind, type JobStatus, renderIndexedJob, watchJob } from "./k8s_jobs.ts";
import { validateManifests } from "./k8s_validate.ts";

export * from "./k8s_client.ts";
export * from "./k8s_render.ts";
export * from "./k8s_rollout.ts";
export * from "./k8s_jobs.ts";
export * from "./k8s_validate.ts";
export * from "./k8s_notebook.ts";

/** The repository's `k8s/` folder. */
export const K8S_DIR: string = fileURLToPath(new URL("../../k8s/", import.meta.url));
/** Overlays of the scoring service. */
export const OVERLAYS = ["aks", "local"] as const;
/** An overlay of {@linkcode OVERLAYS}. */
export type Overlay = typeof OVERLAYS[number];

/** Progress of {@linkcode deploy}. */
export type DeployEvent =
  | { type: "applied"; kind: string; name: string; namespace?: string }
  | { type: "rollout"; status: RolloutStatus }
  | { type: "address"; address: ServiceAddress };

/** Options of {@linkcode renderOverlay}. */
export interface RenderOverlayOptions {
  /** @default "aks" */
  overlay?: Overlay;
  /** Scoring image; default the overlay's. */
  image?: string;
  replicas?: number;
  namespace?: string;
  /** Fills the scoring-key Secret. */
  scoringKey?: Secret | string;
  /** The `k8s/` folder. @default {@linkcode K8S_DIR} */
  k8sDir?: string;
}

/**
 * Renders an overlay of the scoring service and validates it (schemas and cross-references). In a system
 * namespace (`default`, `kube-system`, ...) the Namespace object is left out.
 *
 * @throws {RangeError} For an unknown overlay.
 * @throws {ManifestValidationError} When the manifests have problems.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const objects = renderOverlay({ overlay: "local", image: "cxr-scoring:dev", namespace: "demo" });
 * assert.deepEqual(objects.map((o) => o.kind), ["Namespace", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]);
 * assert.ok(objects.every((o) => o.kind === "Namespace" ? o.metadata.name === "demo" : o.metadata.namespace === "demo"));
 * assert.ok(!renderOverlay({ namespace: "default" }).some((o) => o.kind === "Namespace"));
 * ```
 */
export function renderOverlay(options: RenderOverlayOptions = {}): K8sObject[] {
  const overlay = options.overlay ?? "aks";
  if (!OVERLAYS.includes(overlay)) {
    throw new RangeError(`overlay must be one of: ${OVERLAYS.join(", ")}; got "${overlay}"`);
  }
  const key = options.scoringKey;
  const objects = renderKustomization(join(options.k8sDir ?? K8S_DIR, "overlays", overlay), {
    image: options.image,
    replicas: options.replicas,
    namespace: options.namespace,
    scoringKey: key === undefined ? undefined : typeof key === "string" ? key : key.reveal(),
  });
  validateManifests(objects);
  // A system namespace already exists and is not ours: applying it would label it managed-by=cxr.
  return objects.filter((o) => !(o.kind === "Namespace" && SYSTEM_NAMESPACES.includes(o.metadata.name)));
}

/** Options of {@linkcode deploy}. */
export interface DeployOptions extends Omit<RenderOverlayOptions, "image"> {
  /** Kubeconfig context. @default its current-context */
  context?: string;
  /** Wait for the rollout and the address. @default true */
  wait?: boolean;
  /** Rollout limit in seconds. @default 600 */
  timeoutSeconds?: number;
  /** @default 2000 */
  pollMs?: number;
  /** Draw the rollout as a progress display (live in Jupyter). @default false */
  progress?: boolean;
  onProgress?: (event: DeployEvent) => void;
}

/** What {@linkcode deploy} did. */
export interface DeployResult {
  server: string;
  namespace: string;
  overlay: Overlay;
  image: string;
  applied: ObjectRef[];
  rollout?: RolloutStatus;
  address?: ServiceAddress;
}

async function applyAll(
  client: KubeClient,
  objects: K8sObject[],
  onProgress?: (e: DeployEvent) => void,
): Promise<ObjectRef[]> {
  const applied: ObjectRef[] = [];
  for (const o of objects) {
    await client.apply(o);
    const ref = { kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace };
    applied.push(ref);
    onProgress?.({ type: "applied", ...ref });
  }
  return applied;
}

/**
 * Deploys the scoring service: render + validate the overlay, apply every object, wait for the rollout, read
 * the address.
 *
 * @param kubeconfig Path of a kubeconfig file.
 * @param image The scoring image (e.g. `myacr.azurecr.io/cxr-scoring:1`).
 * @throws {RolloutFailedError} With the reason (ImagePullBackOff, CrashLoopBackOff, ProgressDeadlineExceeded).
 * @throws {KubeApiError} When the API server refuses or cannot be reached.
 * @throws {TypeError} Without an image or a scoring key.
 * @example
 * ```ts ignore
 * const r = await deploy("aks.kubeconfig", "myacr.azurecr.io/cxr-scoring:1", { scoringKey: settings.scoringKey });
 * console.log(r.address?.url);
 * ```
 */
export async function deploy(
  kubeconfig: string,
  image: string,
  options: DeployOptions = {},
): Promise<DeployResult> {
  if (!image) throw new TypeError("deploy: image is required");
  if (!options.scoringKey) {
    throw new TypeError(
      "deploy: scoringKey is required (set CXR_SCORING_KEY); the service must not run with the placeholder",
    );
  }
  const objects = renderOverlay({ ...options, image });
  const client = connectKube(kubeconfig, { context: options.context });
  const deployment = objects.find((o) => o.kind === "Deployment")!;
  const service = objects.find((o) => o.kind === "Service")!;
  const namespace = deployment.metadata.namespace!;
  const result: DeployResult = {
    server: client.server,
    namespace,
    overlay: options.overlay ?? "aks",
    image,
    applied: await applyAll(client, objects, options.onProgress),
  };
  if (options.wait === false) return result;
  const bar = options.progress
    ? new Progress({ label: `rollout ${deployment.metadata.name}`, total: 1 })
    : undefined;
  try {
    result.rollout = await waitForRollout(client, namespace, deployment.metadata.name, {
      timeoutSeconds: options.timeoutSeconds,
      pollMs: options.pollMs,
      onProgress: (status) => {
        const waiting = [...new Set(status.waiting)].join(", ");
        const note = status.probeFailures[0] ?? (waiting ? `waiting: ${waiting}` : "available");
        bar?.update(status.available, status.desired, note);
        options.onProgress?.({ type: "rollout", status });
      },
    });
  } finally {
    bar?.finish();
  }
  result.address = await serviceAddress(client, namespace, service.metadata.name, {
    timeoutSeconds: options.timeoutSeconds,
    pollMs: options.pollMs,
  });
  options.onProgress?.({ type: "address", address: result.address });
  return result;
}

/** Options of {@linkcode undeploy}. */
export interface UndeployOptions {
  /** @default "cxr" */
  namespace?: string;
  context?: string;
  /** Leave the Namespace (even if cxr created it). @default false */
  keepNamespace?: boolean;
  onProgress?: (deleted: ObjectRef) => void;
}

/**
 * Deletes everything labelled `app.kubernetes.io/managed-by=cxr` in the namespace, then the namespace if it
 * carries the label too (never a system namespace such as `default`). Objects without the label are left alone.
 *
 * @param kubeconfig Path of a kubeconfig file.
 * @example
 * ```ts ignore
 * const { deleted } = await undeploy("aks.kubeconfig");
 * ```
 */
export async function undeploy(
  kubeconfig: string,
  options: UndeployOptions = {},
): Promise<{ server: string; namespace: string; deleted: ObjectRef[] }> {
  const namespace = options.namespace ?? "cxr";
  const client = connectKube(kubeconfig, { context: options.context });
  const deleted: ObjectRef[] = [];
  for (const { apiVersion, kind } of MANAGED_KINDS) {
    for (const ref of await client.list(apiVersion, kind, namespace, MANAGED_BY_LABEL)) {
      if (await client.delete(apiVersion, ref)) {
        deleted.push(ref);
        options.onProgress?.(ref);
      }
    }
  }
  if (!options.keepNamespace && !SYSTEM_NAMESPACES.includes(namespace)) {
    const ns = await client.list("v1", "Namespace", "", MANAGED_BY_LABEL);
    for (const ref of ns.filter((n) => n.name === namespace)) {
      const cleaned = { kind: "Namespace", name: ref.name };
      if (await client.delete("v1", cleaned)) {
        deleted.push(cleaned);
        options.onProgress?.(cleaned);
      }
    }
  }
  return { server: client.server, namespace, deleted };
}

/** Options of {@linkcode runIndexedJob}. */
export interface RunIndexedJobOptions {
  shards: number;
  parallelism?: number;
  namespace?: string;
  context?: string;
  /** Variables for the storage Secret of the pods. */
  storageEnv?: Record<string, string>;
  /** Watch until done. @default true */
  wait?: boolean;
  timeoutSeconds?: number;
  pollMs?: number;
  /** Draw completions as a progress display. @default false */
  progress?: boolean;
  onProgress?: (status: JobStatus) => void;
  /** Job name suffix. @default base-36 time */
  suffix?: string;
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
  const applied = await applyAll(client, objects);
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
