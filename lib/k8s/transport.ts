/**
 * How the scoring service is reached from outside the cluster, on top of an overlay: the Ingress's host name,
 * the client networks let in, and where the TLS certificate comes from (given to `deploy`, a cert-manager
 * ClusterIssuer, or a Secret already in the namespace).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { base64 } from "../display.ts";
import { annotatePods, containersOf, servesTls, tlsSecretNames } from "./_pod_spec.ts";
import type { K8sObject } from "./object.ts";

/** Options of {@linkcode applyTransportOptions}. */
export interface TransportOptions {
  /** Host name of every Ingress rule and TLS entry (the name clients use; the certificate must name it). */
  ingressHost?: string | undefined;
  /**
   * Client networks (CIDR) allowed in: `loadBalancerSourceRanges` of every LoadBalancer Service and the
   * ingress-nginx allow-list of every Ingress. @default everyone
   */
  sourceRanges?: string[] | undefined;
  /**
   * A certificate and key (PEM) for the TLS Secret ({@linkcode TLS_SECRET_NAME}) that the Ingress or the
   * pods name: added to the objects as a `kubernetes.io/tls` Secret. @default the Secret is the user's
   */
  tls?: { cert: string; key: string } | undefined;
  /** A cert-manager ClusterIssuer that issues the Ingress's certificate (annotation `cert-manager.io/cluster-issuer`). */
  certManagerIssuer?: string | undefined;
}

/** The Secret holding the scoring service's TLS certificate (`tls.crt`, `tls.key`), in every TLS overlay. */
export const TLS_SECRET_NAME = "cxr-scoring-tls";

/** Pod-template annotation that changes with the TLS certificate the pods read at start (aks-lb). */
export const TLS_CERT_DIGEST_ANNOTATION = "cxr/tls-cert-digest";

/** The ingress-nginx annotation listing the client networks an Ingress admits. */
export const INGRESS_SOURCE_RANGE_ANNOTATION = "nginx.ingress.kubernetes.io/whitelist-source-range";

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

function isCidr(range: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(range);
  if (v4) return v4.slice(1, 5).every((o) => Number(o) <= 255) && Number(v4[5]) <= 32;
  const v6 = /^([0-9a-fA-F:]+)\/(\d{1,3})$/.exec(range);
  const [, address = "", bits] = v6 ?? [];
  return !!v6 && address.includes(":") && (address.match(/::/g)?.length ?? 0) <= 1 && Number(bits) <= 128;
}

/**
 * Applies {@linkcode TransportOptions} to rendered objects, in place: the Ingress host, the client networks
 * (LoadBalancer source ranges, the Ingress allow-list), the cert-manager issuer, and a `kubernetes.io/tls`
 * Secret made from a certificate and key (labelled like the other objects, so `undeploy` removes it).
 *
 * @throws {RangeError} For a host that is not a DNS name, a range that is not CIDR, an option the objects
 * have nothing for (a host or issuer without an Ingress, a certificate nothing uses), `tls` with an issuer.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderKustomization } from "./render.ts";
 * const objects = renderKustomization("k8s/overlays/aks-lb");
 * applyTransportOptions(objects, { sourceRanges: ["203.0.113.0/24"] });
 * const svc = objects.find((o) => o.kind === "Service")!;
 * assert.deepEqual((svc.spec as { loadBalancerSourceRanges: string[] }).loadBalancerSourceRanges, ["203.0.113.0/24"]);
 * assert.throws(() => applyTransportOptions(objects, { ingressHost: "cxr.example.org" }), /have no Ingress/);
 * ```
 */
export function applyTransportOptions(objects: K8sObject[], options: TransportOptions): void {
  const ingresses = objects.filter((o) => o.kind === "Ingress");
  const spec = (o: K8sObject) => (o.spec ?? {}) as Record<string, unknown>;
  const annotate = (o: K8sObject, key: string, value: string) => {
    o.metadata.annotations = {
      ...(o.metadata.annotations as Record<string, string> | undefined),
      [key]: value,
    };
  };
  if (options.ingressHost !== undefined) {
    if (!DNS_NAME.test(options.ingressHost)) {
      throw new RangeError(
        `ingressHost "${options.ingressHost}" is not a DNS name (lowercase letters, digits, - and .)`,
      );
    }
    if (ingresses.length === 0) {
      throw new RangeError("ingressHost is given but these manifests have no Ingress");
    }
    for (const o of ingresses) {
      for (const r of (spec(o).rules as { host?: string }[] | undefined) ?? []) r.host = options.ingressHost;
      for (const t of (spec(o).tls as { hosts?: string[] }[] | undefined) ?? []) {
        t.hosts = [options.ingressHost];
      }
    }
  }
  if (options.sourceRanges !== undefined) {
    const bad = options.sourceRanges.filter((r) => !isCidr(r));
    if (bad.length > 0 || options.sourceRanges.length === 0) {
      const got = JSON.stringify(bad.length ? bad : options.sourceRanges);
      throw new RangeError(
        `sourceRanges must be CIDR ranges such as 203.0.113.0/24 or 2001:db8::/32; got ${got}`,
      );
    }
    for (const o of objects) {
      if (o.kind === "Service" && spec(o).type === "LoadBalancer") {
        spec(o).loadBalancerSourceRanges = [...options.sourceRanges];
      }
    }
    for (const o of ingresses) annotate(o, INGRESS_SOURCE_RANGE_ANNOTATION, options.sourceRanges.join(","));
  }
  if (options.certManagerIssuer !== undefined) {
    if (!DNS_NAME.test(options.certManagerIssuer)) {
      throw new RangeError(
        `certManagerIssuer "${options.certManagerIssuer}" is not a Kubernetes object name`,
      );
    }
    if (ingresses.length === 0) {
      throw new RangeError(
        "certManagerIssuer needs an Ingress (cert-manager's ingress-shim issues its certificate); these manifests have none",
      );
    }
    for (const o of ingresses) annotate(o, "cert-manager.io/cluster-issuer", options.certManagerIssuer);
  }
  if (options.tls !== undefined) {
    if (options.certManagerIssuer !== undefined) {
      throw new RangeError(
        "tls and certManagerIssuer exclude each other: cert-manager writes the TLS Secret itself",
      );
    }
    if (!tlsSecretNames(objects).includes(TLS_SECRET_NAME)) {
      throw new RangeError(`tls is given but nothing in these manifests uses Secret "${TLS_SECRET_NAME}"`);
    }
    const at = Math.max(0, objects.findIndex((o) => o.kind === "Secret") + 1);
    const ns = objects.find((o) => o.kind === "Deployment")?.metadata.namespace;
    const labels = objects.find((o) => o.kind === "Deployment")?.metadata.labels ?? {};
    const b64 = (text: string) => base64(new TextEncoder().encode(text));
    objects.splice(at, 0, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name: TLS_SECRET_NAME,
        ...(ns ? { namespace: ns } : {}),
        labels: Object.fromEntries(
          Object.entries(labels).filter(([k]) => k.endsWith("part-of") || k.endsWith("managed-by")),
        ),
      },
      type: "kubernetes.io/tls",
      data: { "tls.crt": b64(options.tls.cert), "tls.key": b64(options.tls.key) },
    });
    // Pods that serve TLS read the certificate at start: a new one must roll them.
    const digest = createHash("sha256").update(options.tls.cert).digest("hex").slice(0, 24);
    for (const o of objects.filter((x) => containersOf(x).some(servesTls))) {
      annotatePods(o, TLS_CERT_DIGEST_ANNOTATION, digest);
    }
  }
}
