/**
 * The Kubernetes step: render and validate an overlay of `k8s/`, apply it, watch the rollout, read the
 * address; and delete everything it created (label `app.kubernetes.io/managed-by: cxr`).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { Secret } from "../secrets.ts";
import { Progress } from "../progress.ts";
import { connectKube, MANAGED_BY_LABEL, MANAGED_KINDS, type ObjectRef, SYSTEM_NAMESPACES } from "./client.ts";
import { type IngressAddress, ingressAddress, requireTlsSecret } from "./ingress.ts";
import { containersOf, servesTls, tlsSecretNames } from "./_pod_spec.ts";
import type { K8sObject } from "./object.ts";
import { renderKustomization } from "./render.ts";
import { type RolloutStatus, type ServiceAddress, serviceAddress, waitForRollout } from "./rollout.ts";
import { applyTransportOptions, type TransportOptions } from "./transport.ts";
import { PlainHttpError, plainHttpExposures, validateManifests } from "./validate.ts";

/** The repository's `k8s/` folder. */
export const K8S_DIR: string = fileURLToPath(new URL("../../k8s/", import.meta.url));
/**
 * Overlays of the scoring service: `aks` (HTTPS through an ingress-nginx Ingress, ClusterIP Service),
 * `aks-lb` (an Azure LoadBalancer to pods that serve HTTPS themselves), `local` (ClusterIP only).
 */
export const OVERLAYS = ["aks", "aks-lb", "local"] as const;
/** An overlay of {@linkcode OVERLAYS}. */
export type Overlay = typeof OVERLAYS[number];

/** Progress of {@linkcode deploy}. */
export type DeployEvent =
  | { type: "applied"; kind: string; name: string; namespace?: string | undefined }
  | { type: "rollout"; status: RolloutStatus }
  | { type: "address"; address: ServiceAddress | IngressAddress };

/** Options of {@linkcode renderOverlay}. */
export interface RenderOverlayOptions extends TransportOptions {
  /** @default "aks" */
  overlay?: Overlay | undefined;
  /** Scoring image; default the overlay's. */
  image?: string | undefined;
  replicas?: number | undefined;
  namespace?: string | undefined;
  /** Fills the scoring-key Secret. */
  scoringKey?: Secret | string | undefined;
  /** The `k8s/` folder. @default {@linkcode K8S_DIR} */
  k8sDir?: string | undefined;
  /** Render manifests that publish plain HTTP outside the cluster. @default false */
  allowPlainHttp?: boolean | undefined;
}

/**
 * Renders an overlay of the scoring service and validates it, refusing one that would publish plain HTTP
 * outside the cluster unless `allowPlainHttp`. In a system namespace the Namespace object is left out.
 *
 * @throws {RangeError} For an unknown overlay or a bad host, range or issuer.
 * @throws {ManifestValidationError} When the manifests have problems.
 * @throws {PlainHttpError} When they would publish plain HTTP and `allowPlainHttp` is not set.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const objects = renderOverlay({ overlay: "local", image: "cxr-scoring:dev", namespace: "demo" });
 * assert.deepEqual(objects.map((o) => o.kind), ["Namespace", "Secret", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]);
 * assert.ok(objects.every((o) => o.kind === "Namespace" ? o.metadata.name === "demo" : o.metadata.namespace === "demo"));
 * assert.ok(!renderOverlay({ namespace: "default" }).some((o) => o.kind === "Namespace"));
 * const aks = renderOverlay({ overlay: "aks", ingressHost: "cxr.example.org", sourceRanges: ["203.0.113.0/24"] });
 * const ingress = aks.find((o) => o.kind === "Ingress")!;
 * assert.deepEqual((ingress.spec as { tls: unknown }).tls, [{ hosts: ["cxr.example.org"], secretName: "cxr-scoring-tls" }]);
 * assert.equal((aks.find((o) => o.kind === "Service")!.spec as { type: string }).type, "ClusterIP");
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
  applyTransportOptions(objects, options);
  validateManifests(objects);
  const plain = plainHttpExposures(objects);
  if (plain.length > 0 && !options.allowPlainHttp) throw new PlainHttpError(plain);
  // A system namespace already exists and is not ours: applying it would label it managed-by=cxr.
  return objects.filter((o) => !(o.kind === "Namespace" && SYSTEM_NAMESPACES.includes(o.metadata.name)));
}

/** Options of {@linkcode deploy}. */
export interface DeployOptions extends Omit<RenderOverlayOptions, "image"> {
  /** Kubeconfig context. @default its current-context */
  context?: string | undefined;
  /** Wait for the rollout and the address. @default true */
  wait?: boolean | undefined;
  /** Rollout limit in seconds. @default 600 */
  timeoutSeconds?: number | undefined;
  /** @default 2000 */
  pollMs?: number | undefined;
  /** Draw the rollout as a progress display (live in Jupyter). @default false */
  progress?: boolean | undefined;
  onProgress?: ((event: DeployEvent) => void) | undefined;
}

/** What {@linkcode deploy} did. */
export interface DeployResult {
  server: string;
  namespace: string;
  overlay: Overlay;
  image: string;
  applied: ObjectRef[];
  rollout?: RolloutStatus;
  /** The Ingress's address (`https://HOST`) where the overlay has one, else the Service's. */
  address?: ServiceAddress | IngressAddress;
}

/**
 * Deploys the scoring service: {@linkcode renderOverlay}, check that the TLS Secret it names exists unless it
 * is given (`tls`) or issued (`certManagerIssuer`), apply every object, wait for the rollout, read the
 * address: the Ingress's `https://HOST` where there is one, else the Service's (`https://` when the pods
 * serve TLS).
 *
 * @param image The scoring image (e.g. `myacr.azurecr.io/cxr-scoring:1`).
 * @throws {RolloutFailedError} With the reason (ImagePullBackOff, CrashLoopBackOff, ProgressDeadlineExceeded).
 * @throws {KubeApiError} When the API server refuses or cannot be reached.
 * @throws {TypeError} Without an image, a scoring key, or (aks) an Ingress host.
 * @throws {PlainHttpError} When the manifests would publish plain HTTP and `allowPlainHttp` is not set.
 * @throws {MissingTlsSecretError} When the TLS Secret is neither in the cluster nor given nor issued.
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
  const overlay = options.overlay ?? "aks";
  const ingress = objects.find((o) => o.kind === "Ingress");
  const placeholder = ((ingress?.spec as { rules?: { host?: string }[] } | undefined)?.rules ?? [])
    .find((r) => r.host?.endsWith(".example.com"));
  if (placeholder && !options.ingressHost) {
    throw new TypeError(
      `deploy: the ${overlay} overlay needs ingressHost (--ingress-host), the DNS name clients ` +
        `call and its certificate names; "${placeholder.host}" is a placeholder`,
    );
  }
  const client = connectKube(kubeconfig, { context: options.context });
  const deployment = objects.find((o) => o.kind === "Deployment")!;
  const service = objects.find((o) => o.kind === "Service")!;
  const namespace = deployment.metadata.namespace!;
  if (!options.certManagerIssuer) {
    const given = new Set(objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name));
    for (const name of tlsSecretNames(objects).filter((n) => !given.has(n))) {
      await requireTlsSecret(client, namespace, name);
    }
  }
  const result: DeployResult = {
    server: client.server,
    namespace,
    overlay,
    image,
    applied: await client.applyAll(objects, (ref) => options.onProgress?.({ type: "applied", ...ref })),
  };
  if (options.wait === false) return result;
  const wait = { timeoutSeconds: options.timeoutSeconds, pollMs: options.pollMs };
  const bar = options.progress
    ? new Progress({ label: `rollout ${deployment.metadata.name}`, total: 1 })
    : undefined;
  try {
    result.rollout = await waitForRollout(client, namespace, deployment.metadata.name, {
      ...wait,
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
  if (ingress) result.address = await ingressAddress(client, namespace, ingress.metadata.name, wait);
  else {
    const address = await serviceAddress(client, namespace, service.metadata.name, wait);
    if (objects.filter((o) => o.kind === "Deployment").flatMap(containersOf).some(servesTls)) {
      // The pods speak HTTPS only: so does every address of the Service.
      address.clusterUrl = address.clusterUrl.replace(/^http:/, "https:");
      if (address.url) address.url = address.url.replace(/^http:/, "https:");
    }
    result.address = address;
  }
  options.onProgress?.({ type: "address", address: result.address });
  return result;
}

/** What undeploy deletes, in order: the Ingress first (the way in closes before what is behind it). */
const UNDEPLOY_KINDS = [{ apiVersion: "networking.k8s.io/v1", kind: "Ingress" }, ...MANAGED_KINDS];

/** Options of {@linkcode undeploy}. */
export interface UndeployOptions {
  /** @default "cxr" */
  namespace?: string | undefined;
  context?: string | undefined;
  /** Leave the Namespace (even if cxr created it). @default false */
  keepNamespace?: boolean | undefined;
  onProgress?: ((deleted: ObjectRef) => void) | undefined;
}

/**
 * Deletes everything labelled `app.kubernetes.io/managed-by=cxr` in the namespace, then the namespace if it
 * carries the label too (never a system namespace such as `default`). Objects without the label are left alone.
 *
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
  const remove = async (apiVersion: string, ref: ObjectRef) => {
    if (!(await client.delete(apiVersion, ref))) return;
    deleted.push(ref);
    options.onProgress?.(ref);
  };
  for (const { apiVersion, kind } of UNDEPLOY_KINDS) {
    for (const ref of await client.list(apiVersion, kind, namespace, MANAGED_BY_LABEL)) {
      await remove(apiVersion, ref);
    }
  }
  if (!options.keepNamespace && !SYSTEM_NAMESPACES.includes(namespace)) {
    const ns = await client.list("v1", "Namespace", "", MANAGED_BY_LABEL);
    for (const ref of ns.filter((n) => n.name === namespace)) {
      await remove("v1", { kind: "Namespace", name: ref.name });
    }
  }
  return { server: client.server, namespace, deleted };
}
