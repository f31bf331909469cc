/**
 * A connection to a Kubernetes API server from a kubeconfig file (an AKS one works unchanged) through
 * `npm:@kubernetes/client-node`: server-side apply (field manager `cxr`), list by label, delete. The
 * kubeconfig's secrets are registered for redaction at load; errors carry the API's status and message,
 * never request headers.
 *
 * @module
 */
import * as k8s from "@kubernetes/client-node";
import { registerSecret } from "../secrets.ts";
import { KubeconfigError } from "./errors.ts";
import { kubeCall, kubeError } from "./_kube_error.ts";
import type { K8sObject } from "./object.ts";

/** The label on everything the deploy step creates; `undeploy` deletes by it. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by=cxr";

/** Namespaces the cluster owns: never applied (so never labelled as ours) and never deleted. */
export const SYSTEM_NAMESPACES: readonly string[] = [
  "default",
  "kube-system",
  "kube-public",
  "kube-node-lease",
];

/** The kinds `undeploy` looks for, deleted in this order (the Namespace last). */
export const MANAGED_KINDS: readonly { apiVersion: string; kind: string }[] = [
  { apiVersion: "batch/v1", kind: "Job" },
  { apiVersion: "autoscaling/v2", kind: "HorizontalPodAutoscaler" },
  { apiVersion: "policy/v1", kind: "PodDisruptionBudget" },
  { apiVersion: "v1", kind: "Service" },
  { apiVersion: "apps/v1", kind: "Deployment" },
  { apiVersion: "v1", kind: "ConfigMap" },
  { apiVersion: "v1", kind: "Secret" },
];

/** A reference to one object, as the deploy step reports it. */
export interface ObjectRef {
  kind: string;
  name: string;
  namespace?: string | undefined;
}

/** Options of {@linkcode connectKube}. */
export interface ConnectKubeOptions {
  /** Context to use. @default the kubeconfig's current-context */
  context?: string | undefined;
}

function describe(o: ObjectRef): string {
  return `${o.kind} "${o.namespace ? `${o.namespace}/` : ""}${o.name}"`;
}

/** A connected client. Create with {@linkcode connectKube}. */
export class KubeClient {
  /** API server URL. */
  readonly server: string;
  readonly context: string;
  #objects: k8s.KubernetesObjectApi;

  /** @param config The client-node configuration (for typed API clients). */
  constructor(readonly config: k8s.KubeConfig) {
    this.server = config.getCurrentCluster()?.server ?? "(unknown)";
    this.context = config.getCurrentContext();
    this.#objects = k8s.KubernetesObjectApi.makeApiClient(config);
  }

  /** A typed API client, e.g. `api(k8s.AppsV1Api)`. */
  api<T extends k8s.ApiType>(kind: new (config: k8s.Configuration) => T): T {
    return this.config.makeApiClient(kind);
  }

  /** Server-side apply of one object (field manager `cxr`, conflicts forced); returns the server's copy. */
  async apply(obj: K8sObject): Promise<K8sObject> {
    const out = await kubeCall(
      this.server,
      `Applying ${describe({ ...obj, ...obj.metadata })}`,
      () =>
        this.#objects.patch(
          obj as k8s.KubernetesObject,
          undefined,
          undefined,
          "cxr",
          true,
          k8s.PatchStrategy.ServerSideApply,
        ),
    );
    return out as unknown as K8sObject;
  }

  /** Applies objects in order ({@linkcode KubeClient.apply}); `onApplied` hears of each one as it is applied. */
  async applyAll(objects: readonly K8sObject[], onApplied?: (ref: ObjectRef) => void): Promise<ObjectRef[]> {
    const applied: ObjectRef[] = [];
    for (const o of objects) {
      await this.apply(o);
      const ref = { kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace };
      applied.push(ref);
      onApplied?.(ref);
    }
    return applied;
  }

  /** Objects of one kind carrying `selector` in a namespace. */
  async list(apiVersion: string, kind: string, namespace: string, selector: string): Promise<ObjectRef[]> {
    const unset = undefined; // pretty, exact, exportt, fieldSelector
    const out = await kubeCall(
      this.server,
      `Listing ${kind} in "${namespace}"`,
      () => this.#objects.list(apiVersion, kind, namespace, unset, unset, unset, unset, selector),
    );
    return out.items.map((i) => ({ kind, name: i.metadata!.name!, namespace }));
  }

  /** Deletes one object (dependents in the background); `false` when it was already gone. */
  async delete(apiVersion: string, ref: ObjectRef): Promise<boolean> {
    try {
      await this.#objects.delete(
        {
          apiVersion,
          kind: ref.kind,
          metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
        },
        undefined,
        undefined,
        undefined,
        undefined,
        "Background",
      );
      return true;
    } catch (e) {
      if ((e as { code?: number }).code === 404) return false;
      throw kubeError(`Deleting ${describe(ref)}`, this.server, e);
    }
  }
}

/**
 * Loads a kubeconfig file and returns a client for its current (or the given) context. Secrets in it
 * (token, password, client key) are registered for redaction.
 *
 * @throws {KubeconfigError} When the file is missing, unparseable or has no usable context.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactSecrets } from "../secrets.ts";
 * const f = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(f, `apiVersion: v1
 * kind: Config
 * clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
 * users: [{name: u, user: {token: kube-token-0123456789}}]
 * contexts: [{name: x, context: {cluster: c, user: u}}]
 * current-context: x`);
 * const client = connectKube(f);
 * assert.equal(client.server, "https://127.0.0.1:6443");
 * assert.equal(redactSecrets("token kube-token-0123456789"), "token ***");
 * assert.throws(() => connectKube(`${f}.missing`), /Cannot read kubeconfig/);
 * ```
 */
export function connectKube(kubeconfig: string, options: ConnectKubeOptions = {}): KubeClient {
  const config = new k8s.KubeConfig();
  try {
    config.loadFromFile(kubeconfig);
  } catch (e) {
    const why = (e as Error).message.split("\n")[0];
    throw new KubeconfigError(`Cannot read kubeconfig "${kubeconfig}": ${why}`, kubeconfig, { cause: e });
  }
  if (options.context) {
    if (!config.getContextObject(options.context)) {
      const names = config.getContexts().map((c) => c.name).join(", ") || "none";
      throw new KubeconfigError(
        `kubeconfig "${kubeconfig}" has no context "${options.context}" (has: ${names})`,
        kubeconfig,
      );
    }
    config.setCurrentContext(options.context);
  }
  if (!config.getCurrentCluster()) {
    throw new KubeconfigError(`kubeconfig "${kubeconfig}" has no current context with a cluster`, kubeconfig);
  }
  for (const u of config.getUsers()) {
    for (const v of [u.token, u.password, u.keyData]) if (v) registerSecret(v);
  }
  return new KubeClient(config);
}
