/**
 * Checks rendered objects twice: each against the real OpenAPI schema of its kind (`npm:kubernetes-models`),
 * and all together for the mistakes a schema cannot see — a selector that matches no pod, a Service port
 * that no container declares, a probe on an undeclared port or an unknown path, an HPA or PDB aimed at
 * nothing, an env reference to a Secret key that is not there.
 *
 * @module
 */
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Job } from "kubernetes-models/batch/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Namespace, Secret, Service } from "kubernetes-models/v1";
import { containersOf, type K8sObject, sourceOf } from "./k8s_render.ts";

/** The HTTP paths the scoring service answers (lib/serve); probes must use one of them. */
export const SCORING_PATHS: readonly string[] = ["/healthz", "/readyz", "/score", "/metrics"];

/** Rendered manifests that fail validation; `problems` lists every one. */
export class ManifestValidationError extends Error {
  /** One line per problem: `file: Kind "name": what`. */
  problems: string[];
  constructor(problems: string[]) {
    super(
      `${problems.length} problem${problems.length === 1 ? "" : "s"} in the manifests:\n  ${
        problems.join("\n  ")
      }`,
    );
    this.name = "ManifestValidationError";
    this.problems = problems;
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
};

type Labels = Record<string, string>;
interface Port {
  name?: string;
  containerPort: number;
}
interface Probe {
  httpGet?: { path?: string; port: string | number };
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

function declaredPorts(o: K8sObject): Port[] {
  return containersOf(o).flatMap((c) => (c.ports as Port[] | undefined) ?? []);
}

function portMatches(ports: Port[], port: string | number): boolean {
  return ports.some((p) => typeof port === "number" ? p.containerPort === port : p.name === port);
}

function showPorts(ports: Port[]): string {
  return ports.map((p) => p.name ? `${p.name}/${p.containerPort}` : String(p.containerPort)).join(", ") ||
    "none";
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
      if (!portMatches(ports, http.port)) {
        problems.push(
          `${where(o)}: container "${c.name}" ${kind} uses port ${
            JSON.stringify(http.port)
          }, which the container does not declare (declared: ${showPorts(ports)})`,
        );
      }
      if (!SCORING_PATHS.includes(http.path ?? "/")) {
        problems.push(
          `${where(o)}: container "${c.name}" ${kind} path "${http.path}" is not served (one of: ${
            SCORING_PATHS.join(", ")
          })`,
        );
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
 * import { renderKustomization } from "./k8s_render.ts";
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
      const sel = (spec.selector as { matchLabels?: Labels } | undefined)?.matchLabels;
      if (!selects(sel, templateLabels(o))) {
        problems.push(
          `${where(o)}: selector ${JSON.stringify(sel ?? {})} does not match its pod template labels ${
            JSON.stringify(templateLabels(o) ?? {})
          }`,
        );
      }
    }
    problems.push(...probeProblems(o));
    for (const c of containersOf(o)) {
      for (
        const e
          of (c.env as { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[]) ?? []
      ) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        const secret = inNs(o, "Secret").find((s) => s.metadata.name === ref.name);
        const keys = Object.keys({ ...(secret?.data as object), ...(secret?.stringData as object) });
        if (!secret || !keys.includes(ref.key)) {
          problems.push(
            `${
              where(o)
            }: env ${e.name} refers to Secret "${ref.name}" key "${ref.key}", which is not in the manifests`,
          );
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
      for (const p of (spec.ports as { port: number; targetPort?: string | number }[] | undefined) ?? []) {
        const target = p.targetPort ?? p.port;
        for (const w of targets.filter((t) => !portMatches(declaredPorts(t), target))) {
          problems.push(
            `${where(o)}: port ${p.port} targets ${
              JSON.stringify(target)
            }, which ${w.kind} "${w.metadata.name}" ` +
              `does not declare (declared: ${showPorts(declaredPorts(w))})`,
          );
        }
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
      const sel = (spec.selector as { matchLabels?: Labels } | undefined)?.matchLabels;
      if (!workloads(o).some((w) => selects(sel, templateLabels(w)))) {
        problems.push(`${where(o)}: selector ${JSON.stringify(sel ?? {})} matches no pod of the manifests`);
      }
    }
  }
  return problems;
}

/**
 * Throws when {@linkcode manifestProblems} finds anything.
 *
 * @throws {ManifestValidationError} Listing every problem.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderKustomization } from "./k8s_render.ts";
 * const objects = renderKustomization("k8s/overlays/aks");
 * validateManifests(objects);
 * (objects.find((o) => o.kind === "Service")!.spec as { ports: { targetPort: string }[] }).ports[0].targetPort = "web";
 * assert.throws(() => validateManifests(objects), /port 80 targets "web", which Deployment "cxr-scoring" does not declare \(declared: http\/8080\)/);
 * ```
 */
export function validateManifests(objects: readonly K8sObject[]): void {
  const problems = manifestProblems(objects);
  if (problems.length > 0) throw new ManifestValidationError(problems);
}
