/**
 * The pieces of a Kubernetes object's pod template that rendering, validation, transport options, Jobs and
 * `deploy` all read (private to the folder): the file it came from, its containers, whether they serve TLS, the TLS
 * Secrets they mount, and pod-template annotations.
 *
 * @module
 */

import type { K8sObject } from "./object.ts";

type Json = Record<string, unknown>;
const sources = new WeakMap<object, string>();

/**
 * The file an object was read from (relative to the working directory), for messages.
 *
 * @param obj an object read by the renderer.
 * @returns the file, or `(generated)` for an object made in code.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const o = { apiVersion: "v1", kind: "Namespace", metadata: { name: "cxr" } };
 * assert.equal(sourceOf(o), "(generated)");
 * setSource(o, "k8s/base/namespace.yaml");
 * assert.equal(sourceOf(o), "k8s/base/namespace.yaml");
 * ```
 */
export function sourceOf(obj: object): string {
  return sources.get(obj) ?? "(generated)";
}

/**
 * Records the file an object was read from ({@linkcode sourceOf} returns it).
 *
 * @param obj the object.
 * @param file its file.
 * @returns `obj`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(sourceOf(setSource({}, "a.yaml")), "a.yaml");
 * ```
 */
export function setSource<T extends object>(obj: T, file: string): T {
  sources.set(obj, file);
  return obj;
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The pod template of a workload (a CronJob's through its `jobTemplate`). */
function podTemplate(obj: K8sObject): Json | undefined {
  const spec = obj.spec as Json | undefined;
  const holder = (spec?.jobTemplate as Json | undefined)?.spec as Json | undefined ?? spec;
  return isObject(holder?.template) ? holder.template : undefined;
}

function podSpecs(obj: K8sObject): Json[] {
  const pod = podTemplate(obj)?.spec;
  return isObject(pod) ? [pod] : [];
}

/**
 * Every container (init containers too) of an object's pod template.
 *
 * @param obj any object; those without a pod template have none.
 * @returns the containers, init containers first (the objects themselves, not copies).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const d = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" },
 *   spec: { template: { spec: { initContainers: [{ name: "i" }], containers: [{ name: "c" }] } } } };
 * assert.deepEqual(containersOf(d).map((c) => c.name), ["i", "c"]);
 * assert.deepEqual(containersOf({ apiVersion: "v1", kind: "Secret", metadata: { name: "s" } }), []);
 * ```
 */
export function containersOf(obj: K8sObject): Json[] {
  return podSpecs(obj).flatMap((p) => [
    ...((p.initContainers as Json[] | undefined) ?? []),
    ...((p.containers as Json[] | undefined) ?? []),
  ]);
}

/**
 * Whether a container runs the scoring service with TLS (`serve ... --tls-cert FILE`), so its ports speak
 * HTTPS only.
 *
 * @param container a container of a pod spec.
 * @returns `true` when its command or arguments carry `--tls-cert`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(servesTls({ args: ["serve", "--tls-cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key"] }), true);
 * assert.equal(servesTls({ args: ["serve", "--port", "8080"] }), false);
 * ```
 */
export function servesTls(container: Json): boolean {
  const args = [
    ...((container.command as string[] | undefined) ?? []),
    ...((container.args as string[] | undefined) ?? []),
  ];
  return args.some((a) => a === "--tls-cert" || a.startsWith("--tls-cert="));
}

/**
 * Sets an annotation on the pod template of a workload (a change rolls its pods), nothing for other kinds.
 *
 * @param obj the workload, changed in place.
 * @param key annotation name.
 * @param value annotation value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const d = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" }, spec: { template: { spec: {} } } };
 * annotatePods(d, "a/b", "1");
 * assert.deepEqual(d.spec.template, { metadata: { annotations: { "a/b": "1" } }, spec: {} });
 * ```
 */
export function annotatePods(obj: K8sObject, key: string, value: string): void {
  const template = podTemplate(obj) as { metadata?: { annotations?: Record<string, string> } } | undefined;
  if (!template) return;
  template.metadata = {
    ...template.metadata,
    annotations: { ...template.metadata?.annotations, [key]: value },
  };
}

/**
 * Names of the Secrets that hold TLS certificates for these objects: each Ingress's `spec.tls[].secretName`
 * and each pod's secret volume mounted by a container that serves TLS (`serve --tls-cert`).
 *
 * @param objects rendered objects.
 * @returns the Secret names, each once.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const ingress = { apiVersion: "networking.k8s.io/v1", kind: "Ingress", metadata: { name: "i" },
 *   spec: { tls: [{ secretName: "web-tls" }] } };
 * const pod = { name: "c", args: ["serve", "--tls-cert", "/tls/tls.crt"], volumeMounts: [{ name: "tls" }] };
 * const d = { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" },
 *   spec: { template: { spec: { containers: [pod], volumes: [{ name: "tls", secret: { secretName: "pod-tls" } }] } } } };
 * assert.deepEqual(tlsSecretNames([ingress, d]), ["web-tls", "pod-tls"]);
 * ```
 */
export function tlsSecretNames(objects: readonly K8sObject[]): string[] {
  const names = new Set<string>();
  for (const o of objects) {
    if (o.kind === "Ingress") {
      const tls = ((o.spec as { tls?: { secretName?: string }[] } | undefined)?.tls) ?? [];
      for (const t of tls) if (t.secretName) names.add(t.secretName);
    }
    for (const pod of podSpecs(o)) {
      const volumes = (pod.volumes as { name: string; secret?: { secretName?: string } }[] | undefined) ?? [];
      const containers = (pod.containers as Json[] | undefined) ?? [];
      for (const c of containers.filter(servesTls)) {
        for (const m of (c.volumeMounts as { name: string }[] | undefined) ?? []) {
          const secret = volumes.find((v) => v.name === m.name)?.secret?.secretName;
          if (secret) names.add(secret);
        }
      }
    }
  }
  return [...names];
}
