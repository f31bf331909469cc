/**
 * Checks rendered objects against the OpenAPI schema of each kind (`npm:kubernetes-models`) and together for
 * what a schema cannot see: selectors, ports, probes and references that point at nothing. Separately,
 * {@linkcode plainHttpExposures} lists every way they would publish plain HTTP outside the cluster.
 *
 * @module
 */
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Job } from "kubernetes-models/batch/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1";
import { ConfigMap, Namespace, Secret, Service } from "kubernetes-models/v1";
import { K8sError } from "./errors.ts";
import { containersOf, servesTls, sourceOf } from "./_pod_spec.ts";
import type { K8sObject } from "./object.ts";

/** ingress-nginx annotations that, set to `"false"`, answer plain HTTP instead of redirecting it. */
const SSL_REDIRECTS = ["ssl-redirect", "force-ssl-redirect"].map((k) => `nginx.ingress.kubernetes.io/${k}`);

/** The HTTP paths the scoring service answers (lib/serve); probes must use one of them. */
export const SCORING_PATHS: readonly string[] = ["/healthz", "/readyz", "/score", "/metrics"];

/** Rendered manifests that fail validation; `problems` lists every one (`file: Kind "name": what`). */
export class ManifestValidationError extends K8sError {
  constructor(readonly problems: string[]) {
    const count = `${problems.length} problem${problems.length === 1 ? "" : "s"}`;
    super(`${count} in the manifests:\n  ${problems.join("\n  ")}`);
  }
}

// deno-lint-ignore no-explicit-any
const SCHEMAS: Record<string, new (data: any) => { validate(): void }> = {
  "v1/Namespace": Namespace,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "apps/v1/Deployment": Deployment,
  "batch/v1/Job": Job,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "networking.k8s.io/v1/Ingress": Ingress,
};

type Labels = Record<string, string>;
type Port = { name?: string; containerPort: number };
interface Probe {
  httpGet?: { path?: string; port: string | number; scheme?: string };
}
type ServicePort = { port: number; targetPort?: string | number };
interface EnvVar {
  name: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}

function where(o: K8sObject): string {
  return `${sourceOf(o)}: ${o.kind} "${o.metadata.name}"`;
}

function selects(selector: Labels | undefined, labels: Labels | undefined): boolean {
  return !!selector && Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

function templateLabels(o: K8sObject): Labels | undefined {
  return (o.spec as { template?: { metadata?: { labels?: Labels } } })?.template?.metadata?.labels;
}

function matchLabels(spec: Record<string, unknown>): Labels | undefined {
  return (spec.selector as { matchLabels?: Labels } | undefined)?.matchLabels;
}

function secretKeys(secret: K8sObject | undefined): string[] {
  return Object.keys({ ...(secret?.data as object), ...(secret?.stringData as object) });
}

function declaredPorts(o: K8sObject): Port[] {
  return containersOf(o).flatMap((c) => (c.ports as Port[] | undefined) ?? []);
}

function portMatches(ports: Port[], port: string | number): boolean {
  return ports.some((p) => typeof port === "number" ? p.containerPort === port : p.name === port);
}

function showPorts(ports: { name?: string; port?: number; containerPort?: number }[]): string {
  return ports.map((p) => `${p.name ? `${p.name}/` : ""}${p.containerPort ?? p.port}`).join(", ") || "none";
}

function schemaProblems(o: K8sObject): string[] {
  const key = `${o.apiVersion}/${o.kind}`;
  const Model = SCHEMAS[key];
  if (!Model) return [`${where(o)}: no schema known for ${key} (known: ${Object.keys(SCHEMAS).join(", ")})`];
  try {
    new Model(o).validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: { instancePath: string; message?: string }[] }).errors;
    if (!errors) return [`${where(o)}: ${(e as Error).message}`];
    return errors.map((x) => `${where(o)}: ${x.instancePath || "/"} ${x.message ?? "is invalid"}`);
  }
}

function probeProblems(o: K8sObject): string[] {
  const problems: string[] = [];
  for (const c of containersOf(o)) {
    const ports = (c.ports as Port[] | undefined) ?? [];
    for (const kind of ["livenessProbe", "readinessProbe", "startupProbe"]) {
      const http = (c[kind] as Probe | undefined)?.httpGet;
      if (!http) continue;
      const at = `${where(o)}: container "${c.name}" ${kind}`;
      if (!portMatches(ports, http.port)) {
        const port = JSON.stringify(http.port);
        problems.push(
          `${at} uses port ${port}, which the container does not declare (declared: ${showPorts(ports)})`,
        );
      }
      const scheme = (http.scheme ?? "HTTP").toUpperCase();
      if (scheme !== (servesTls(c) ? "HTTPS" : "HTTP")) {
        const serves = servesTls(c) ? "HTTPS (--tls-cert)" : "plain HTTP";
        problems.push(`${at} uses scheme ${scheme}, but the container serves ${serves}`);
      }
      if (!SCORING_PATHS.includes(http.path ?? "/")) {
        problems.push(`${at} path "${http.path}" is not served (one of: ${SCORING_PATHS.join(", ")})`);
      }
    }
  }
  return problems;
}

/**
 * Every problem of a set of rendered objects, one line each (empty when they are fine).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderKustomization } from "./render.ts";
 * const objects = renderKustomization("k8s/overlays/local");
 * assert.deepEqual(manifestProblems(objects), []);
 * const svc = objects.find((o) => o.kind === "Service")!;
 * (svc.spec as { selector: Record<string, string> }).selector = { app: "nothing" };
 * assert.match(manifestProblems(objects).join("\n"), /Service "cxr-scoring": selector app=nothing matches no pod/);
 * ```
 */
export function manifestProblems(objects: readonly K8sObject[]): string[] {
  const problems = objects.flatMap(schemaProblems);
  const inNs = (o: K8sObject, kind: string) =>
    objects.filter((x) => x.kind === kind && x.metadata.namespace === o.metadata.namespace);
  const workloads = (o: K8sObject) => [...inNs(o, "Deployment"), ...inNs(o, "Job")];
  for (const o of objects) {
    const spec = (o.spec ?? {}) as Record<string, unknown>;
    if (o.kind === "Deployment") {
      const sel = matchLabels(spec);
      if (!selects(sel, templateLabels(o))) {
        const [selector, labels] = [JSON.stringify(sel ?? {}), JSON.stringify(templateLabels(o) ?? {})];
        problems.push(`${where(o)}: selector ${selector} does not match its pod template labels ${labels}`);
      }
    }
    problems.push(...probeProblems(o));
    for (const c of containersOf(o)) {
      for (const e of (c.env as EnvVar[]) ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        const secret = inNs(o, "Secret").find((s) => s.metadata.name === ref.name);
        if (!secret || !secretKeys(secret).includes(ref.key)) {
          const key = `Secret "${ref.name}" key "${ref.key}"`;
          problems.push(`${where(o)}: env ${e.name} refers to ${key}, which is not in the manifests`);
        }
      }
    }
    if (o.kind === "Service") {
      const sel = spec.selector as Labels | undefined;
      const targets = workloads(o).filter((w) => selects(sel, templateLabels(w)));
      if (targets.length === 0) {
        const shown = Object.entries(sel ?? {}).map(([k, v]) => `${k}=${v}`).join(",") || "(none)";
        problems.push(`${where(o)}: selector ${shown} matches no pod of the manifests`);
        continue;
      }
      for (const p of (spec.ports as ServicePort[] | undefined) ?? []) {
        const target = p.targetPort ?? p.port;
        for (const w of targets.filter((t) => !portMatches(declaredPorts(t), target))) {
          const port = `port ${p.port} targets ${JSON.stringify(target)}`;
          const declared = `(declared: ${showPorts(declaredPorts(w))})`;
          problems.push(
            `${where(o)}: ${port}, which ${w.kind} "${w.metadata.name}" does not declare ${declared}`,
          );
        }
      }
    }
    if (o.kind === "Ingress") problems.push(...ingressProblems(o, inNs(o, "Service"), inNs(o, "Secret")));
    if (o.kind === "Secret" && o.type === "kubernetes.io/tls") {
      const missing = ["tls.crt", "tls.key"].filter((k) => !secretKeys(o).includes(k));
      if (missing.length > 0) {
        problems.push(`${where(o)}: a kubernetes.io/tls Secret needs ${missing.join(" and ")}`);
      }
    }
    if (o.kind === "HorizontalPodAutoscaler") {
      const ref = spec.scaleTargetRef as { kind: string; name: string };
      if (!inNs(o, ref?.kind ?? "").some((d) => d.metadata.name === ref.name)) {
        problems.push(`${where(o)}: scaleTargetRef ${ref?.kind} "${ref?.name}" is not in the manifests`);
      }
      if (Number(spec.minReplicas ?? 1) > Number(spec.maxReplicas)) {
        problems.push(
          `${where(o)}: minReplicas ${spec.minReplicas} is above maxReplicas ${spec.maxReplicas}`,
        );
      }
    }
    if (o.kind === "PodDisruptionBudget") {
      const sel = matchLabels(spec);
      if (!workloads(o).some((w) => selects(sel, templateLabels(w)))) {
        problems.push(`${where(o)}: selector ${JSON.stringify(sel ?? {})} matches no pod of the manifests`);
      }
    }
  }
  return problems;
}

interface IngressBackend {
  service?: { name: string; port?: { name?: string; number?: number } };
}

function ingressBackends(o: K8sObject): IngressBackend[] {
  const spec = (o.spec ?? {}) as {
    defaultBackend?: IngressBackend;
    rules?: { http?: { paths?: { backend: IngressBackend }[] } }[];
  };
  return [
    ...(spec.defaultBackend ? [spec.defaultBackend] : []),
    ...(spec.rules ?? []).flatMap((r) => (r.http?.paths ?? []).map((p) => p.backend)),
  ];
}

function ingressProblems(o: K8sObject, services: K8sObject[], secrets: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const b of ingressBackends(o)) {
    if (!b.service) continue;
    const svc = services.find((s) => s.metadata.name === b.service!.name);
    if (!svc) {
      problems.push(`${where(o)}: backend Service "${b.service.name}" is not in the manifests`);
      continue;
    }
    const ports = ((svc.spec as { ports?: { name?: string; port: number }[] }).ports) ?? [];
    const want = b.service.port;
    if (!ports.some((p) => want?.name !== undefined ? p.name === want.name : p.port === want?.number)) {
      const port = JSON.stringify(want?.name ?? want?.number);
      const service = `Service "${b.service.name}" (ports: ${showPorts(ports)})`;
      problems.push(`${where(o)}: backend port ${port} is not a port of ${service}`);
    }
  }
  for (const t of (o.spec as { tls?: { secretName?: string }[] }).tls ?? []) {
    const secret = secrets.find((s) => s.metadata.name === t.secretName);
    if (secret && secret.type !== "kubernetes.io/tls") {
      const type = secret.type ?? "Opaque";
      problems.push(`${where(o)}: TLS Secret "${t.secretName}" is of type ${type}, not kubernetes.io/tls`);
    }
  }
  return problems;
}

/**
 * Every way these objects would publish plain HTTP beyond the cluster, one line each (empty when there is
 * none): a LoadBalancer or NodePort Service, or a container `hostPort`, that reaches a container serving
 * without TLS (`serve` without `--tls-cert`); an Ingress with a host that its `tls` does not cover, with no
 * host at all, or with ingress-nginx's HTTPS redirect turned off. A ClusterIP Service publishes nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderKustomization } from "./render.ts";
 * assert.deepEqual(plainHttpExposures(renderKustomization("k8s/overlays/aks")), []);
 * assert.deepEqual(plainHttpExposures(renderKustomization("k8s/overlays/aks-lb")), []);
 * const local = renderKustomization("k8s/overlays/local");
 * (local.find((o) => o.kind === "Service")!.spec as { type: string }).type = "LoadBalancer";
 * assert.match(plainHttpExposures(local)[0] ?? "", /LoadBalancer Service "cxr-scoring": port 80 reaches container "scoring" port "http", which serves plain HTTP/);
 * ```
 */
export function plainHttpExposures(objects: readonly K8sObject[]): string[] {
  const found: string[] = [];
  const workloads = objects.filter((o) => o.kind === "Deployment" || o.kind === "Job");
  for (const o of objects) {
    const spec = (o.spec ?? {}) as Record<string, unknown>;
    if (o.kind === "Service" && (spec.type === "LoadBalancer" || spec.type === "NodePort")) {
      const sel = spec.selector as Labels | undefined;
      const targets = workloads.filter((w) =>
        w.metadata.namespace === o.metadata.namespace && selects(sel, templateLabels(w))
      );
      const at = where(o).replace(/Service "/, `${spec.type} Service "`);
      for (const p of (spec.ports as ServicePort[] | undefined) ?? []) {
        const target = p.targetPort ?? p.port;
        for (const c of targets.flatMap(containersOf)) {
          if (servesTls(c) || !portMatches((c.ports as Port[] | undefined) ?? [], target)) continue;
          found.push(
            `${at}: port ${p.port} reaches container "${c.name}" port ${JSON.stringify(target)}, ` +
              "which serves plain HTTP (serve without --tls-cert)",
          );
        }
      }
    }
    for (const c of containersOf(o)) {
      for (const p of ((c.ports as (Port & { hostPort?: number })[] | undefined) ?? [])) {
        if (p.hostPort && !servesTls(c)) {
          found.push(
            `${where(o)}: container "${c.name}" hostPort ${p.hostPort} serves plain HTTP on every node`,
          );
        }
      }
    }
    if (o.kind === "Ingress") {
      const tlsHosts = new Set(
        ((spec.tls as { hosts?: string[] }[] | undefined) ?? []).flatMap((t) => t.hosts ?? []),
      );
      const rules = (spec.rules as { host?: string }[] | undefined) ?? [];
      for (const r of rules) {
        if (!r.host) found.push(`${where(o)}: a rule without a host answers plain HTTP on any name`);
        else if (!tlsHosts.has(r.host)) found.push(`${where(o)}: host "${r.host}" has no TLS entry`);
      }
      if (spec.defaultBackend) found.push(`${where(o)}: defaultBackend answers plain HTTP on any name`);
      const a = (o.metadata.annotations ?? {}) as Record<string, string>;
      for (const key of SSL_REDIRECTS) {
        if (a[key] === "false") {
          found.push(`${where(o)}: ${key} is "false", so plain HTTP is answered, not redirected`);
        }
      }
    }
  }
  return found;
}

/** The manifests would publish plain HTTP outside the cluster; `exposures` lists how. */
export class PlainHttpError extends K8sError {
  /** @param exposures One line per way plain HTTP would be published ({@linkcode plainHttpExposures}). */
  constructor(readonly exposures: string[]) {
    const list = exposures.join("\n  ");
    super(
      `These manifests would publish plain HTTP outside the cluster, so the scoring key and X-rays would ` +
        `cross the network in clear:\n  ${list}\nServe TLS (the aks overlay's Ingress, or serve --tls-cert ` +
        `as in aks-lb), or pass --allow-plain-http (allowPlainHttp) to deploy anyway.`,
    );
  }
}

/**
 * Throws when {@linkcode manifestProblems} finds anything.
 *
 * @throws {ManifestValidationError} Listing every problem.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderKustomization } from "./render.ts";
 * const objects = renderKustomization("k8s/overlays/aks");
 * validateManifests(objects);
 * (objects.find((o) => o.kind === "Service")!.spec as { ports: [{ targetPort: string }] }).ports[0].targetPort = "web";
 * assert.throws(() => validateManifests(objects), /port 80 targets "web", which Deployment "cxr-scoring" does not declare \(declared: http\/8080\)/);
 * ```
 */
export function validateManifests(objects: readonly K8sObject[]): void {
  const problems = manifestProblems(objects);
  if (problems.length > 0) throw new ManifestValidationError(problems);
}
