/**
 * Watching a Deployment's rollout the way `kubectl rollout status` judges it, failing early with the reason a
 * person would look for (an image that cannot be pulled, a crash loop, the progress deadline); and reading a
 * Service's address.
 *
 * @module
 */
import * as k8s from "@kubernetes/client-node";
import type { KubeClient } from "./client.ts";
import { kubeCall } from "./_kube_error.ts";
import { K8sError } from "./errors.ts";

/**
 * The rollout failed; `reason` is the Kubernetes reason (`ImagePullBackOff`, `CrashLoopBackOff`, ...), `pod`
 * the pod it was seen on, if any.
 */
export class RolloutFailedError extends K8sError {
  constructor(message: string, readonly reason: string, readonly pod?: string) {
    super(message);
  }
}

/** The rollout did not finish within the time allowed. */
export class RolloutTimeoutError extends K8sError {}

/** One look at a rollout. */
export interface RolloutStatus {
  deployment: string;
  namespace: string;
  desired: number;
  updated: number;
  ready: number;
  available: number;
  /** All replicas are updated and available. */
  done: boolean;
  /** Waiting reasons of the pods, e.g. `["ContainerCreating"]`. */
  waiting: string[];
  /** The latest failed-probe event of each pod not ready (`Readiness probe failed: ...`). */
  probeFailures: string[];
}

/** Options of {@linkcode waitForRollout}. */
export interface WaitForRolloutOptions {
  /** Give up after this many seconds. @default 600 */
  timeoutSeconds?: number | undefined;
  /** Milliseconds between polls. @default 2000 */
  pollMs?: number | undefined;
  /** Each poll's status. */
  onProgress?: ((status: RolloutStatus) => void) | undefined;
}

/** Waiting reasons that will not fix themselves: the image's, then the container's. */
export const FATAL_WAITING_REASONS: readonly string[] = [
  ...["ImagePullBackOff", "ErrImagePull", "InvalidImageName"],
  ...["CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError"],
];

function checkPods(pods: k8s.V1Pod[], deployment: string): string[] {
  const waiting: string[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name ?? "?";
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    for (const c of statuses) {
      const w = c.state?.waiting;
      if (!w?.reason) continue;
      waiting.push(w.reason);
      if (!FATAL_WAITING_REASONS.includes(w.reason)) continue;
      const last = c.lastState?.terminated;
      const exit = last ? ` (last exit code ${last.exitCode}${last.reason ? `, ${last.reason}` : ""})` : "";
      const hint = w.reason.includes("Image")
        ? ` — check the image name and that the cluster may pull it (AKS: az aks update --attach-acr)`
        : w.reason === "CrashLoopBackOff"
        ? ` after ${c.restartCount} restarts — see its log (kubectl logs ${name}); failing liveness probes also end here`
        : "";
      const state = `pod ${name} container "${c.name}" is ${w.reason}${exit}`;
      throw new RolloutFailedError(
        `Deployment "${deployment}": ${state}: ${w.message ?? ""}${hint}`,
        w.reason,
        name,
      );
    }
  }
  return waiting;
}

/** The newest `Unhealthy` (failed probe) event message of each pod, as `pod: message`. */
async function probeEvents(client: KubeClient, namespace: string, pods: k8s.V1Pod[]): Promise<string[]> {
  const names = new Set(pods.map((p) => p.metadata?.name));
  const { items: events } = await kubeCall(
    client.server,
    `Listing events in "${namespace}"`,
    () =>
      client.api(k8s.CoreV1Api).listNamespacedEvent({
        namespace,
        fieldSelector: "involvedObject.kind=Pod,reason=Unhealthy",
      }),
  );
  const newest = new Map<string, k8s.CoreV1Event>();
  const time = (e: k8s.CoreV1Event) => new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime();
  for (const e of events) {
    const pod = e.involvedObject?.name;
    if (e.reason !== "Unhealthy" || !names.has(pod)) continue;
    if (!newest.has(pod!) || time(e) >= time(newest.get(pod!)!)) newest.set(pod!, e);
  }
  return [...newest].map(([pod, e]) =>
    `${pod}: ${(e.message ?? "").trim()}${e.count ? ` (${e.count}x)` : ""}`
  );
}

/**
 * Polls a Deployment until all its replicas are updated and available. While pods are not ready, their
 * failed-probe events are read and reported (and named in the timeout error).
 *
 * @throws {RolloutFailedError} On a fatal pod state or the Deployment's progress deadline.
 * @throws {RolloutTimeoutError} When `timeoutSeconds` pass first.
 * @example
 * ```ts ignore
 * const status = await waitForRollout(connectKube("aks.kubeconfig"), "cxr", "cxr-scoring");
 * ```
 */
export async function waitForRollout(
  client: KubeClient,
  namespace: string,
  name: string,
  options: WaitForRolloutOptions = {},
): Promise<RolloutStatus> {
  const apps = client.api(k8s.AppsV1Api);
  const core = client.api(k8s.CoreV1Api);
  const timeoutSeconds = options.timeoutSeconds ?? 600;
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (true) {
    const [d, pods] = await kubeCall(client.server, `Reading Deployment "${namespace}/${name}"`, async () => {
      const d = await apps.readNamespacedDeployment({ name, namespace });
      const sel = Object.entries(d.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(",");
      return [d, (await core.listNamespacedPod({ namespace, labelSelector: sel })).items] as const;
    });
    const s = d.status ?? {};
    const desired = d.spec?.replicas ?? 1;
    const stalled = s.conditions?.find((c) =>
      c.type === "Progressing" && c.reason === "ProgressDeadlineExceeded"
    );
    if (stalled) {
      throw new RolloutFailedError(
        `Deployment "${name}" exceeded its progress deadline: ${stalled.message ?? ""}`,
        "ProgressDeadlineExceeded",
      );
    }
    const waiting = checkPods(pods, name);
    const notReady = pods.filter((p) =>
      !p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")
    );
    const probeFailures = notReady.length > 0 ? await probeEvents(client, namespace, notReady) : [];
    const last: RolloutStatus = {
      deployment: name,
      namespace,
      desired,
      updated: s.updatedReplicas ?? 0,
      ready: s.readyReplicas ?? 0,
      available: s.availableReplicas ?? 0,
      done: (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
        (s.updatedReplicas ?? 0) >= desired && (s.availableReplicas ?? 0) >= desired &&
        (s.replicas ?? 0) <= (s.updatedReplicas ?? 0),
      waiting,
      probeFailures,
    };
    options.onProgress?.(last);
    if (last.done) return last;
    if (Date.now() > deadline) {
      throw new RolloutTimeoutError(
        `Deployment "${name}" not ready after ${timeoutSeconds} s: ${last.available}/${desired} available` +
          (waiting.length ? `, pods waiting: ${[...new Set(waiting)].join(", ")}` : "") +
          (probeFailures.length ? `; ${probeFailures.join("; ")}` : ""),
      );
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 2000));
  }
}

/** Where a Service can be reached. */
export interface ServiceAddress {
  /** `ClusterIP`, `LoadBalancer`, `NodePort`. */
  type: string;
  /** `http://IP:PORT` from outside, once a LoadBalancer has an ingress. */
  url?: string;
  /** `http://NAME.NAMESPACE.svc:PORT`, for clients inside the cluster. */
  clusterUrl: string;
  /** What to do when there is no outside URL. */
  note?: string;
}

/** Options of {@linkcode serviceAddress}. */
export interface ServiceAddressOptions {
  /** Wait this long for a LoadBalancer's (or an Ingress's) address. @default 300 */
  timeoutSeconds?: number | undefined;
  /** @default 2000 */
  pollMs?: number | undefined;
}

/**
 * Reads a Service's address: its LoadBalancer ingress, waiting for one to be assigned, or for a ClusterIP
 * Service the in-cluster URL with a note.
 *
 * @example
 * ```ts ignore
 * const { url } = await serviceAddress(connectKube("aks.kubeconfig"), "cxr", "cxr-scoring");
 * ```
 */
export async function serviceAddress(
  client: KubeClient,
  namespace: string,
  name: string,
  options: ServiceAddressOptions = {},
): Promise<ServiceAddress> {
  const core = client.api(k8s.CoreV1Api);
  const timeoutSeconds = options.timeoutSeconds ?? 300;
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (true) {
    const svc = await kubeCall(
      client.server,
      `Reading Service "${namespace}/${name}"`,
      () => core.readNamespacedService({ name, namespace }),
    );
    const type = svc.spec?.type ?? "ClusterIP";
    const port = svc.spec?.ports?.[0]?.port ?? 80;
    const clusterUrl = `http://${name}.${namespace}.svc:${port}`;
    if (type !== "LoadBalancer") {
      const note = `${type} Service: reachable inside the cluster at ${clusterUrl}; from here use ` +
        `kubectl port-forward -n ${namespace} svc/${name} 8080:${port}, or the aks overlay for a LoadBalancer`;
      return { type, clusterUrl, note };
    }
    const ingress = svc.status?.loadBalancer?.ingress?.[0];
    const host = ingress?.ip ?? ingress?.hostname;
    if (host) {
      const p = ingress?.ports?.[0]?.port ?? port;
      return { type, clusterUrl, url: `http://${host.includes(":") ? `[${host}]` : host}:${p}` };
    }
    if (Date.now() > deadline) {
      return { type, clusterUrl, note: `LoadBalancer has no external address after ${timeoutSeconds} s` };
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 2000));
  }
}
