/**
 * A Kubernetes object as plain JSON: what the renderer reads from `k8s/`, validation checks and the client
 * applies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const ns: K8sObject = { apiVersion: "v1", kind: "Namespace", metadata: { name: "cxr" } };
 * assert.equal(ns.metadata.name, "cxr");
 * ```
 */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [field: string]: unknown;
}
