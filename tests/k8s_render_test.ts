// Every overlay of k8s/ renders with our Kustomize-subset renderer and validates against the real OpenAPI
// schemas (npm:kubernetes-models) and the cross-reference checks; broken copies fail with messages that say
// what and where.
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, tempDir } from "./_fixtures.ts";
import {
  containersOf,
  type K8sObject,
  KustomizationError,
  manifestProblems,
  ManifestSyntaxError,
  ManifestValidationError,
  renderIndexedJob,
  renderKustomization,
  renderOverlay,
  validateManifests,
} from "../lib/deploy/k8s.ts";

const K8S = join(REPO_ROOT, "k8s");
const find = (objects: K8sObject[], kind: string) => objects.find((o) => o.kind === kind)!;
// deno-lint-ignore no-explicit-any
const spec = (o: K8sObject) => o.spec as any;

Deno.test("every overlay renders and validates: base, local, aks, gpu, jobs", () => {
  const kinds = (dir: string) =>
    renderKustomization(join(K8S, dir)).map((o) => `${o.kind}/${o.metadata.name}`);
  const scoring = [
    "Namespace/cxr",
    "Secret/cxr-scoring-key",
    "Deployment/cxr-scoring",
    "Service/cxr-scoring",
    "HorizontalPodAutoscaler/cxr-scoring",
    "PodDisruptionBudget/cxr-scoring",
  ];
  for (const dir of ["base", "overlays/local", "overlays/aks"]) assert.deepEqual(kinds(dir), scoring, dir);
  assert.deepEqual(kinds("overlays/gpu"), ["Namespace/cxr", "Secret/cxr-storage", "Job/cxr-train"]);
  assert.deepEqual(kinds("jobs"), [
    "Namespace/cxr",
    "Secret/cxr-storage",
    "Job/cxr-preprocess",
    "Job/cxr-score",
  ]);
  for (const dir of ["base", "overlays/local", "overlays/aks", "overlays/gpu", "jobs"]) {
    const objects = renderKustomization(join(K8S, dir));
    assert.deepEqual(manifestProblems(objects), [], dir);
    for (const o of objects) {
      assert.equal(o.metadata.labels?.["app.kubernetes.io/managed-by"], "cxr", `${dir} ${o.kind}`);
      if (o.kind !== "Namespace") assert.equal(o.metadata.namespace, "cxr");
    }
  }
});

Deno.test("the scoring Deployment: probes, security context, key from the Secret; overlays change what they should", () => {
  const base = renderKustomization(join(K8S, "base"));
  const d = find(base, "Deployment");
  const c = containersOf(d)[0];
  assert.deepEqual(c.args, ["serve", "--model", "/model", "--host", "0.0.0.0", "--port", "8080"]);
  assert.deepEqual(c.ports, [{ name: "http", containerPort: 8080, protocol: "TCP" }]);
  // deno-lint-ignore no-explicit-any
  const probe = (name: string) => (c as any)[name].httpGet;
  assert.deepEqual([probe("livenessProbe").path, probe("readinessProbe").path, probe("startupProbe").path], [
    "/healthz",
    "/readyz",
    "/readyz",
  ]);
  assert.deepEqual(c.securityContext, {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
  });
  assert.equal(spec(d).template.spec.securityContext.runAsNonRoot, true);
  assert.equal(spec(d).template.spec.securityContext.seccompProfile.type, "RuntimeDefault");
  assert.deepEqual(c.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
  // deno-lint-ignore no-explicit-any
  assert.deepEqual((c.env as any[])[0].valueFrom.secretKeyRef, {
    name: "cxr-scoring-key",
    key: "CXR_SCORING_KEY",
  });
  assert.equal(spec(find(base, "Service")).type, "ClusterIP");
  assert.equal(spec(find(base, "HorizontalPodAutoscaler")).metrics[0].resource.target.averageUtilization, 70);

  const aks = renderKustomization(join(K8S, "overlays/aks"));
  assert.equal(spec(find(aks, "Service")).type, "LoadBalancer");
  assert.equal(spec(find(aks, "Deployment")).replicas, 3);
  assert.equal(containersOf(find(aks, "Deployment"))[0].image, "cxracr.azurecr.io/cxr-scoring:latest");
  assert.equal(
    containersOf(find(aks, "Deployment"))[0].ports !== undefined,
    true,
    "strategic merge kept ports",
  );
  assert.equal(spec(find(aks, "HorizontalPodAutoscaler")).minReplicas, 3);

  const local = renderKustomization(join(K8S, "overlays/local"));
  assert.equal(spec(find(local, "Deployment")).replicas, 1);
  assert.equal(containersOf(find(local, "Deployment"))[0].imagePullPolicy, "Never");
  assert.deepEqual(spec(find(local, "PodDisruptionBudget")).maxUnavailable, 1);
  assert.equal(spec(find(local, "PodDisruptionBudget")).minAvailable, undefined);

  const gpu = find(renderKustomization(join(K8S, "overlays/gpu")), "Job");
  const train = spec(gpu).template.spec;
  assert.equal(train.containers[0].resources.limits["nvidia.com/gpu"], 1);
  assert.equal(train.nodeSelector["kubernetes.azure.com/accelerator"], "nvidia");
  assert.ok(train.tolerations.some((t: { key: string }) => t.key === "sku"));
});

Deno.test("deploy options: image, replicas (HPA follows), namespace, key; the scoring key only in the Secret", () => {
  const objects = renderOverlay({
    overlay: "aks",
    image: "me.azurecr.io/s:2",
    replicas: 12,
    namespace: "prod",
    scoringKey: "k-0123456789abcdef",
  });
  assert.equal(spec(find(objects, "Deployment")).replicas, 12);
  assert.deepEqual(
    [
      spec(find(objects, "HorizontalPodAutoscaler")).minReplicas,
      spec(find(objects, "HorizontalPodAutoscaler")).maxReplicas,
    ],
    [12, 12],
  );
  assert.equal(find(objects, "Namespace").metadata.name, "prod");
  assert.deepEqual(find(objects, "Secret").stringData, { CXR_SCORING_KEY: "k-0123456789abcdef" });
  assert.equal(JSON.stringify(objects).split("k-0123456789abcdef").length, 2);
  assert.throws(
    () => renderOverlay({ overlay: "gke" as "aks" }),
    /overlay must be one of: aks, local; got "gke"/,
  );
  assert.throws(() => renderOverlay({ namespace: "Bad_NS" }), RangeError);
  assert.throws(() => renderOverlay({ replicas: 0 }), /replicas must be an integer >= 1/);
});

Deno.test("Indexed Jobs for N in {1, 2, 3, 7}: completions, parallelism and SHARD_COUNT agree, args use env/$(SHARD_COUNT)", () => {
  for (const n of [1, 2, 3, 7]) {
    for (const kind of ["preprocess", "score"] as const) {
      const objects = renderIndexedJob(kind, "img:1", { shards: n, parallelism: 2, suffix: "x" });
      validateManifests(objects);
      const job = find(objects, "Job");
      assert.equal(spec(job).completionMode, "Indexed");
      assert.equal(spec(job).completions, n);
      assert.equal(spec(job).parallelism, Math.min(2, n));
      const c = spec(job).template.spec.containers[0];
      assert.equal(c.args[0], kind);
      assert.equal(c.args[c.args.indexOf("--shard") + 1], "env/$(SHARD_COUNT)");
      assert.equal(c.env.find((e: { name: string }) => e.name === "SHARD_COUNT").value, String(n));
      assert.deepEqual(c.envFrom, [{ secretRef: { name: "cxr-storage" } }]);
      assert.ok(containersOf(job).every((x) => x.image === "img:1"));
    }
  }
  assert.throws(() => renderIndexedJob("score", "i", { shards: 0 }), /shards must be an integer >= 1, got 0/);
  assert.throws(
    () => renderIndexedJob("train" as "score", "i", { shards: 1 }),
    /job must be one of: preprocess, score/,
  );
});

/** A writable copy of k8s/ with one file changed. */
function brokenCopy(dir: string, file: string, edit: (text: string) => string): string {
  const root = join(dir, "k8s");
  cpSync(K8S, root, { recursive: true });
  writeFileSync(join(root, file), edit(readFileSync(join(root, file), "utf8")));
  return root;
}

Deno.test("broken manifests fail validation with what and where", () => {
  const cases: [string, (t: string) => string, RegExp][] = [
    [
      "base/service.yaml",
      (t) =>
        t.replace(
          "  selector:\n    app.kubernetes.io/name: cxr-scoring",
          "  selector:\n    app.kubernetes.io/name: cxr-scorer",
        ),
      /service\.yaml: Service "cxr-scoring": selector app\.kubernetes\.io\/name=cxr-scorer matches no pod of the manifests/,
    ],
    [
      "base/service.yaml",
      (t) => t.replace("targetPort: http", "targetPort: 9090"),
      /Service "cxr-scoring": port 80 targets 9090, which Deployment "cxr-scoring" does not declare \(declared: http\/8080\)/,
    ],
    [
      "base/deployment.yaml",
      (t) => t.replace("path: /healthz", "path: /health"),
      /livenessProbe path "\/health" is not served \(one of: \/healthz, \/readyz, \/score, \/metrics\)/,
    ],
    [
      "base/deployment.yaml",
      (t) => t.replace("port: http\n            periodSeconds: 5", "port: web\n            periodSeconds: 5"),
      /readinessProbe uses port "web", which the container does not declare \(declared: http\/8080\)/,
    ],
    [
      "base/deployment.yaml",
      (t) => t.replace("progressDeadlineSeconds: 600", 'progressDeadlineSeconds: "ten"'),
      /deployment\.yaml: Deployment "cxr-scoring": \/spec\/progressDeadlineSeconds must be integer/,
    ],
    [
      "base/deployment.yaml",
      (t) =>
        t.replace(
          "    matchLabels:\n      app.kubernetes.io/name: cxr-scoring\n  strategy",
          "    matchLabels:\n      app: other\n  strategy",
        ),
      /Deployment "cxr-scoring": selector \{"app":"other"\} does not match its pod template labels/,
    ],
    [
      "base/hpa.yaml",
      (t) => t.replace("    name: cxr-scoring", "    name: cxr-gone"),
      /HorizontalPodAutoscaler "cxr-scoring": scaleTargetRef Deployment "cxr-gone" is not in the manifests/,
    ],
    [
      "base/secret.yaml",
      (t) => t.replace("CXR_SCORING_KEY: REPLACED", "SCORING_KEY: REPLACED"),
      /env CXR_SCORING_KEY refers to Secret "cxr-scoring-key" key "CXR_SCORING_KEY", which is not in the manifests/,
    ],
  ];
  for (const [file, edit, pattern] of cases) {
    using dir = tempDir();
    const objects = renderKustomization(join(brokenCopy(dir.path, file, edit), "overlays/aks"));
    const e = caught(() => validateManifests(objects), `${file}: ${pattern}`);
    assert.ok(e instanceof ManifestValidationError, `${file}: ${pattern} not refused`);
    assert.match(e.message, pattern);
  }
  // The port changed consistently (container and probes use the name) is fine.
  using ok = tempDir();
  const root = brokenCopy(ok.path, "base/deployment.yaml", (t) => t.replaceAll("8080", "8081"));
  assert.deepEqual(manifestProblems(renderKustomization(join(root, "overlays/local"))), []);
});

function caught(fn: () => unknown, what = "the call"): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail(`${what} threw nothing`);
}

Deno.test("broken kustomizations: YAML syntax with line and column, unsupported fields, patches that match nothing", () => {
  {
    using dir = tempDir();
    const root = brokenCopy(
      dir.path,
      "base/pdb.yaml",
      (t) => t.replace("minAvailable: 1", "minAvailable: 1: 2"),
    );
    const e = caught(() => renderKustomization(join(root, "base")));
    assert.ok(e instanceof ManifestSyntaxError, String(e));
    assert.match(e.file, /base\/pdb\.yaml$/);
    assert.deepEqual([e.line, e.column], [6, 17]);
    assert.match(e.message, /^Cannot read manifest ".*pdb\.yaml" at line 6, column 17: /);
  }
  {
    using dir = tempDir();
    const root = brokenCopy(
      dir.path,
      "overlays/aks/kustomization.yaml",
      (t) => t + "commonLabels:\n  a: b\n",
    );
    assert.throws(
      () => renderKustomization(join(root, "overlays/aks")),
      /overlays\/aks\/kustomization\.yaml: uses commonLabels, which this renderer does not support/,
    );
  }
  {
    using dir = tempDir();
    const root = brokenCopy(
      dir.path,
      "overlays/aks/service-patch.yaml",
      (t) => t.replace("name: cxr-scoring", "name: cxr-web"),
    );
    assert.throws(() => renderKustomization(join(root, "overlays/aks")), KustomizationError);
    assert.throws(
      () => renderKustomization(join(root, "overlays/aks")),
      /patch for Service "cxr-web" matches nothing/,
    );
  }
  {
    using dir = tempDir();
    const root = brokenCopy(
      dir.path,
      "overlays/local/kustomization.yaml",
      (t) => t.replace("path: /spec/minAvailable", "path: /spec/nothing"),
    );
    assert.throws(
      () => renderKustomization(join(root, "overlays/local")),
      /JSON patch remove "\/spec\/nothing" does not exist/,
    );
  }
});
