/**
 * What rendering, validation, transport options, Jobs and `deploy` all read of an object: the file it
 * came from, its pod template's containers, whether they serve TLS, the TLS Secrets they mount.
 *
 * @module
 */
import type { K8sObject } from "./object.ts";
import { isObject } from "./_patch.ts";

type Json = Record<string, unknown>;
const sources = new WeakMap<object, string>();

/**
 * The file the renderer read an object from (relative to the working directory), or `(generated)`.
 *
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
 * Records the file an object was read from ({@linkcode sourceOf} returns it); returns `obj`.
 *
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

/** The pod template of a workload (a CronJob's through its `jobTemplate`). */
function podTemplate(obj: K8sObject): Json | undefined {
  const spec = obj.spec as Json | undefined;
  const holder = (spec?.jobTemplate as Json | undefined)?.spec as Json | undefined ?? spec;
  return isObject(holder?.template) ? holder.template : undefined;
}

function podSpec(obj: K8sObject): Json {
  const pod = podTemplate(obj)?.spec;
  return isObject(pod) ? pod : {};
}

/**
 * Every container of an object's pod template, init containers first (the objects themselves, not copies);
 * none for an object without one.
 *
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
  const pod = podSpec(obj);
  return [
    ...((pod.initContainers as Json[] | undefined) ?? []),
    ...((pod.containers as Json[] | undefined) ?? []),
  ];
}

/**
 * Whether a container runs the scoring service with TLS (its command or arguments carry `--tls-cert`), so its
 * ports speak HTTPS only.
 *
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
 * Sets an annotation on the pod template of a workload, in place (a change rolls its pods); nothing for other
 * kinds.
 *
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
 * Names of the Secrets that hold TLS certificates for these objects, each once: each Ingress's
 * `spec.tls[].secretName` and each pod's secret volume mounted by a container that serves TLS.
 *
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
    const pod = podSpec(o);
    const volumes = (pod.volumes as { name: string; secret?: { secretName?: string } }[] | undefined) ?? [];
    for (const c of ((pod.containers as Json[] | undefined) ?? []).filter(servesTls)) {
      for (const m of (c.volumeMounts as { name: string }[] | undefined) ?? []) {
        const secret = volumes.find((v) => v.name === m.name)?.secret?.secretName;
        if (secret) names.add(secret);
      }
    }
  }
  return [...names];
}
