/**
 * `deno task cxr deploy`, `undeploy` and `k8s render`: the scoring service on Kubernetes (AKS or a local
 * cluster) through `lib/k8s/`, and the manifests of `k8s/` rendered and validated without a cluster.
 *
 * @module
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  choiceOption,
  type Command,
  intOption,
  optionalString,
  type OptionValues,
  stringOption,
  UsageError,
} from "./command.ts";
import { loadSettings } from "../config.ts";
import {
  deploy,
  type DeployEvent,
  K8S_DIR,
  type K8sObject,
  OVERLAYS,
  plainHttpExposures,
  renderKustomization,
  renderOverlay,
  type RenderOverlayOptions,
  toYaml,
  undeploy,
  validateManifests,
} from "../k8s/mod.ts";
import { scoreRemote } from "../serve/client.ts";
import { tlsFiles } from "./serve.ts";

const refs = (objects: K8sObject[]) =>
  objects.map((o) => ({ kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace }));

/** `--namespace` and `--context`, as `deploy`, `undeploy`, `k8s render` (namespace only) and `jobs run` take them. */
export const CLUSTER_OPTIONS = {
  namespace: { valueName: "NS", description: "Namespace.", defaultText: "cxr" },
  context: { valueName: "NAME", description: "Kubeconfig context.", defaultText: "current" },
} as const;

function describeEvent(e: DeployEvent): string {
  if (e.type === "applied") return `applied ${e.kind} ${e.namespace ? `${e.namespace}/` : ""}${e.name}`;
  if (e.type === "rollout") {
    const s = e.status;
    const waiting = [...new Set(s.waiting)].join(", ");
    const probes = s.probeFailures.length ? `; ${s.probeFailures.join("; ")}` : "";
    return `rollout ${s.deployment}: ${s.available}/${s.desired} available` +
      `${waiting ? ` (waiting: ${waiting})` : ""}${probes}`;
  }
  if (!e.address.url) return `no outside address: ${e.address.note}`;
  return `endpoint ${e.address.url}${e.address.note ? ` (${e.address.note})` : ""}`;
}

/** The transport options of `deploy`: Ingress host, TLS Secret, issuer, source ranges, plain HTTP. */
function transportOptions(values: OptionValues): Omit<RenderOverlayOptions, "overlay" | "image"> {
  const issuer = optionalString(values, "cert-manager-issuer");
  if (values["tls-cert"] !== undefined && values["tls-key"] !== undefined && issuer !== undefined) {
    throw new UsageError("--tls-cert/--tls-key and --cert-manager-issuer exclude each other");
  }
  return {
    ingressHost: optionalString(values, "ingress-host"),
    certManagerIssuer: issuer,
    tls: tlsFiles(values),
    sourceRanges: optionalString(values, "source-ranges")?.split(",").map((r) => r.trim()).filter(Boolean),
    allowPlainHttp: values["allow-plain-http"] === true,
  };
}

/** `deploy`. With `--json`: `{server, namespace, overlay, image, applied, rollout, address, score?}`. */
export const deployCommand: Command = {
  name: "deploy",
  summary:
    "Deploy the scoring service to Kubernetes (AKS or local), wait for the rollout, print its address.",
  details:
    "Renders and validates k8s/overlays/<overlay>, applies it with server-side apply (field manager cxr), " +
    "watches the rollout until ready or failed with the reason (image pull, crash loop, progress deadline) and " +
    "reads the address. The Secret gets CXR_SCORING_KEY from the settings. --render-only DIR writes the " +
    "validated manifests (secrets masked) and touches no cluster. --score FILE then scores one image there. " +
    "Overlays: aks (HTTPS through an ingress-nginx Ingress at --ingress-host; the Service stays inside the " +
    "cluster), aks-lb (an Azure LoadBalancer on port 443 to pods that serve HTTPS themselves, limited to " +
    "--source-ranges), local (ClusterIP only). The TLS certificate is the Secret cxr-scoring-tls: created from " +
    "--tls-cert/--tls-key, issued by cert-manager (--cert-manager-issuer, aks), or already in the namespace " +
    "(checked before anything is applied). Manifests that would publish plain HTTP outside the cluster are " +
    "refused unless --allow-plain-http. --score over HTTPS trusts the system's CAs; for a private CA run with " +
    "DENO_CERT=ca.pem.",
  options: {
    kubeconfig: { valueName: "FILE", description: "Kubeconfig (an AKS one works unchanged)." },
    image: { valueName: "IMAGE", required: true, description: "Scoring image to run." },
    overlay: { valueName: "NAME", description: `${OVERLAYS.join(", ")}.`, defaultText: "aks" },
    "ingress-host": {
      valueName: "NAME",
      description: "DNS name of the Ingress (aks): what clients call; the certificate must name it.",
    },
    "tls-cert": {
      valueName: "FILE",
      description: "Certificate (PEM) for the TLS Secret cxr-scoring-tls, created with the rest.",
    },
    "tls-key": { valueName: "FILE", description: "Private key (PEM) of --tls-cert." },
    "cert-manager-issuer": {
      valueName: "NAME",
      description: "cert-manager ClusterIssuer that issues the Ingress's certificate (aks).",
    },
    "source-ranges": {
      valueName: "CIDR,...",
      description: "Client networks let in: loadBalancerSourceRanges (aks-lb), the Ingress allow-list (aks).",
      defaultText: "everyone",
    },
    "allow-plain-http": {
      description: "Deploy even if the manifests publish plain HTTP outside the cluster.",
    },
    replicas: { valueName: "N", description: "Replicas (the HPA minimum follows)." },
    ...CLUSTER_OPTIONS,
    "render-only": { valueName: "DIR", description: "Only render + validate into DIR." },
    "no-wait": { description: "Apply and return without waiting for the rollout." },
    timeout: { valueName: "S", description: "Rollout time limit in seconds.", defaultText: "600" },
    score: { valueName: "FILE", description: "After the rollout, score this PNG/JPEG there." },
  },
  async run(values, ctx) {
    const overlay = choiceOption(values, "overlay", OVERLAYS, "aks");
    const image = stringOption(values, "image");
    const replicas = intOption(values, "replicas", { min: 1, max: 1000, optional: true });
    const namespace = optionalString(values, "namespace");
    const transport = transportOptions(values);
    const renderDir = optionalString(values, "render-only");
    if (renderDir !== undefined) {
      const objects = renderOverlay({ overlay, image, replicas, namespace, ...transport });
      mkdirSync(renderDir, { recursive: true });
      const file = join(renderDir, `${overlay}.yaml`);
      writeFileSync(file, toYaml(objects));
      const written = `${objects.length} objects of overlay ${overlay} validated and written to ${file}`;
      const json = { overlay, out: file, validated: true, objects: refs(objects) };
      return ctx.out(ctx.json ? JSON.stringify(json) : `${written} (secrets masked)`);
    }
    const kubeconfig = stringOption(values, "kubeconfig");
    const key = loadSettings().scoringKey;
    if (!key) {
      throw new UsageError(
        "CXR_SCORING_KEY is not set: set it (16+ characters) in the environment or .env; the deployed service requires it",
      );
    }
    const result = await deploy(kubeconfig, image, {
      overlay,
      replicas,
      namespace,
      scoringKey: key,
      ...transport,
      context: optionalString(values, "context"),
      wait: !values["no-wait"],
      timeoutSeconds: intOption(values, "timeout", { min: 1, fallback: 600 }),
      onProgress: (e) => ctx.err(describeEvent(e)),
    });
    let score: { model: unknown; top: unknown } | undefined;
    if (typeof values.score === "string") {
      if (!result.address?.url) throw new Error(`Cannot score through the Service: ${result.address?.note}`);
      const r = await scoreRemote(result.address.url, readFileSync(values.score), { key });
      score = { model: r.model, top: r.top };
    }
    if (ctx.json) {
      ctx.out(JSON.stringify({ ...result, ...(score ? { score } : {}) }));
      return;
    }
    ctx.out(
      `deployed ${image} to ${result.namespace} (${result.applied.length} objects, overlay ${overlay})`,
    );
    if (result.address) {
      ctx.out(result.address.url ? `endpoint: ${result.address.url}` : result.address.note!);
    }
    if (score) ctx.out(`scored ${values.score}: ${JSON.stringify(score.top)}`);
  },
};

/** `undeploy`. With `--json`: `{server, namespace, deleted: [{kind, name, namespace?}]}`. */
export const undeployCommand: Command = {
  name: "undeploy",
  summary: "Delete everything deploy and jobs created (label app.kubernetes.io/managed-by=cxr).",
  options: {
    kubeconfig: { valueName: "FILE", required: true, description: "Kubeconfig." },
    ...CLUSTER_OPTIONS,
    "keep-namespace": { description: "Leave the namespace itself." },
  },
  async run(values, ctx) {
    const result = await undeploy(stringOption(values, "kubeconfig"), {
      namespace: optionalString(values, "namespace"),
      context: optionalString(values, "context"),
      keepNamespace: values["keep-namespace"] === true,
      onProgress: (r) => ctx.err(`deleted ${r.kind} ${r.namespace ? `${r.namespace}/` : ""}${r.name}`),
    });
    if (ctx.json) ctx.out(JSON.stringify(result));
    else ctx.out(`deleted ${result.deleted.length} objects from ${result.namespace}`);
  },
};

const RENDERABLE = ["aks", "aks-lb", "local", "gpu", "jobs", "base"] as const;

/** `k8s render`: YAML on stdout (secrets masked); with `--json`: `{overlay, validated, objects: [...]}`. */
export const k8sRenderCommand: Command = {
  name: "k8s render",
  summary:
    "Render a k8s/ overlay (our Kustomize subset), validate it against the OpenAPI schemas, print YAML.",
  options: {
    overlay: { valueName: "NAME", description: RENDERABLE.join(", ") + ".", defaultText: "aks" },
    image: { valueName: "IMAGE", description: "Scoring image (aks, aks-lb, local, base)." },
    replicas: { valueName: "N", description: "Replicas (aks, aks-lb, local, base)." },
    namespace: CLUSTER_OPTIONS.namespace,
  },
  run(values, ctx) {
    const overlay = choiceOption(values, "overlay", RENDERABLE, "aks");
    const dir = overlay === "jobs" || overlay === "base"
      ? join(K8S_DIR, overlay)
      : join(K8S_DIR, "overlays", overlay);
    const objects = renderKustomization(dir, {
      image: optionalString(values, "image"),
      replicas: intOption(values, "replicas", { min: 1, max: 1000, optional: true }),
      namespace: optionalString(values, "namespace"),
    });
    validateManifests(objects);
    for (const line of plainHttpExposures(objects)) {
      ctx.err(`warning: plain HTTP outside the cluster: ${line}`);
    }
    const yaml = toYaml(objects);
    if (ctx.json) ctx.out(JSON.stringify({ overlay, validated: true, yaml, objects: refs(objects) }));
    else ctx.out(yaml.trimEnd());
  },
};
