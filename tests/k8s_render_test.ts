// Every overlay of k8s/ renders with our Kustomize-subset renderer and validates against the real OpenAPI
// schemas (npm:kubernetes-models) and the cross-reference checks; broken copies fail with messages that say
// what and where.
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT, tempDir } from "./_fixtures.ts";
import { containersOf, tlsSecretNames } from "../lib/k8s/_pod_spec.ts";
import {
  type K8sObject,
  KustomizationError,
  manifestProblems,
  ManifestSyntaxError,
  ManifestValidationError,
  PlainHttpError,
  plainHttpExposures,
  renderIndexedJob,
  renderKustomization,
  renderOverlay,
  toYaml,
  validateManifests,
} from "../lib/k8s/mod.ts";
import { selfSignedCertificate } from "./_tls.ts";

const K8S = join(REPO_ROOT, "k8s");
const find = (objects: K8sObject[], kind: string) => objects.find((o) => o.kind === kind)!;
const firstContainer = (o: K8sObject) =>
  containersOf(o)[0] ?? assert.fail(`${o.kind} ${o.metadata.name} has no containers`);
// deno-lint-ignore no-explicit-any
const spec = (o: K8sObject) => o.spec as any;

Deno.test("every overlay renders and validates and publishes no plain HTTP: base, local, aks, aks-lb, gpu, jobs", () => {
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
  for (const dir of ["base", "overlays/local", "overlays/aks-lb"]) assert.deepEqual(kinds(dir), scoring, dir);
  assert.deepEqual(kinds("overlays/aks"), [...scoring, "Ingress/cxr-scoring"]);
  assert.deepEqual(kinds("overlays/gpu"), ["Namespace/cxr", "Secret/cxr-storage", "Job/cxr-train"]);
  assert.deepEqual(kinds("jobs"), [
    "Namespace/cxr",
    "Secret/cxr-storage",
    "Job/cxr-preprocess",
    "Job/cxr-score",
  ]);
  for (const dir of ["base", "overlays/local", "overlays/aks", "overlays/aks-lb", "overlays/gpu", "jobs"]) {
    const objects = renderKustomization(join(K8S, dir));
    assert.deepEqual(manifestProblems(objects), [], dir);
    assert.deepEqual(plainHttpExposures(objects), [], `${dir} publishes plain HTTP`);
    for (const o of objects) {
      assert.equal(o.metadata.labels?.["app.kubernetes.io/managed-by"], "cxr", `${dir} ${o.kind}`);
      if (o.kind !== "Namespace") assert.equal(o.metadata.namespace, "cxr");
    }
  }
});

Deno.test("the scoring Deployment: probes, security context, key from the Secret; overlays change what they should", () => {
  const base = renderKustomization(join(K8S, "base"));
  const d = find(base, "Deployment");
  const c = firstContainer(d);
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
  assert.equal(spec(find(aks, "Service")).type, "ClusterIP", "aks: the Service stays inside the cluster");
  const ingress = spec(find(aks, "Ingress"));
  assert.equal(ingress.ingressClassName, "nginx");
  assert.deepEqual(ingress.tls, [{ hosts: ["cxr.example.com"], secretName: "cxr-scoring-tls" }]);
  assert.deepEqual(ingress.rules[0].http.paths[0].backend, {
    service: { name: "cxr-scoring", port: { name: "http" } },
  });
  const annotations = find(aks, "Ingress").metadata.annotations as Record<string, string>;
  assert.equal(annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"], "true");
  assert.equal(annotations["nginx.ingress.kubernetes.io/proxy-body-size"], "20m");
  assert.equal(spec(find(aks, "Deployment")).replicas, 3);
  assert.equal(firstContainer(find(aks, "Deployment")).image, "cxracr.azurecr.io/cxr-scoring:latest");
  assert.equal(
    firstContainer(find(aks, "Deployment")).ports !== undefined,
    true,
    "strategic merge kept ports",
  );
  assert.equal(spec(find(aks, "HorizontalPodAutoscaler")).minReplicas, 3);

  const lb = renderKustomization(join(K8S, "overlays/aks-lb"));
  assert.equal(spec(find(lb, "Service")).type, "LoadBalancer");
  assert.deepEqual(spec(find(lb, "Service")).ports, [{
    name: "https",
    port: 443,
    targetPort: "https",
    protocol: "TCP",
  }]);
  const lbc = firstContainer(find(lb, "Deployment"));
  assert.deepEqual((lbc.args as string[]).slice(-4), [
    "--tls-cert",
    "/tls/tls.crt",
    "--tls-key",
    "/tls/tls.key",
  ]);
  // deno-lint-ignore no-explicit-any
  assert.deepEqual((lbc as any).readinessProbe.httpGet, { path: "/readyz", port: "https", scheme: "HTTPS" });
  assert.deepEqual(spec(find(lb, "Deployment")).template.spec.volumes.at(-1), {
    name: "tls",
    secret: { secretName: "cxr-scoring-tls", defaultMode: 0o440 },
  });
  assert.deepEqual(tlsSecretNames(lb), ["cxr-scoring-tls"]);

  const local = renderKustomization(join(K8S, "overlays/local"));
  assert.equal(spec(find(local, "Deployment")).replicas, 1);
  assert.equal(firstContainer(find(local, "Deployment")).imagePullPolicy, "Never");
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
  // The pods read the key once, at start: a new key must change their template so they roll.
  const digest = (o: K8sObject[]) =>
    spec(find(o, "Deployment")).template.metadata.annotations["cxr/scoring-key-digest"];
  assert.match(digest(objects), /^[0-9a-f]{24}$/);
  assert.equal(
    digest(renderOverlay({ overlay: "local", scoringKey: "k-0123456789abcdef" })),
    digest(objects),
  );
  assert.notEqual(
    digest(renderOverlay({ overlay: "local", scoringKey: "k-0123456789abcdeF" })),
    digest(objects),
  );
  assert.equal(
    spec(find(renderOverlay({ overlay: "local" }), "Deployment")).template.metadata.annotations,
    undefined,
  );
  assert.throws(
    () => renderOverlay({ overlay: "gke" as "aks" }),
    /overlay must be one of: aks, aks-lb, local; got "gke"/,
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
      "overlays/aks/deployment-patch.yaml",
      (t) => t.replace("name: cxr-scoring", "name: cxr-web"),
    );
    assert.throws(() => renderKustomization(join(root, "overlays/aks")), KustomizationError);
    assert.throws(
      () => renderKustomization(join(root, "overlays/aks")),
      /patch for Deployment "cxr-web" matches nothing/,
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

Deno.test("TLS options: Ingress host, source ranges, the TLS Secret from files (masked in YAML), cert-manager; bad values refused", async () => {
  const tls = await selfSignedCertificate(["cxr.example.org"]);
  const aks = renderOverlay({
    overlay: "aks",
    ingressHost: "cxr.example.org",
    sourceRanges: ["203.0.113.0/24", "2001:db8::/32"],
    tls,
  });
  const ingress = find(aks, "Ingress");
  assert.deepEqual(spec(ingress).rules.map((r: { host: string }) => r.host), ["cxr.example.org"]);
  assert.deepEqual(spec(ingress).tls[0].hosts, ["cxr.example.org"]);
  assert.equal(
    (ingress.metadata.annotations as Record<string, string>)[
      "nginx.ingress.kubernetes.io/whitelist-source-range"
    ],
    "203.0.113.0/24,2001:db8::/32",
  );
  const secret = aks.find((o) => o.metadata.name === "cxr-scoring-tls")!;
  assert.equal(secret.type, "kubernetes.io/tls");
  assert.equal(secret.metadata.namespace, "cxr");
  assert.equal(secret.metadata.labels?.["app.kubernetes.io/managed-by"], "cxr");
  const { "tls.crt": crt, "tls.key": key } = secret.data as Record<string, string>;
  assert.ok(crt && key, "the TLS Secret holds tls.crt and tls.key");
  assert.equal(atob(crt), tls.cert);
  assert.ok(
    !toYaml(aks).includes(key),
    "the TLS key is shown",
  );
  assert.deepEqual(aks.map((o) => o.kind).slice(0, 3), ["Namespace", "Secret", "Secret"]);

  const lb = renderOverlay({ overlay: "aks-lb", sourceRanges: ["198.51.100.7/32"] });
  assert.deepEqual(spec(find(lb, "Service")).loadBalancerSourceRanges, ["198.51.100.7/32"]);
  // Pods that read the certificate at start roll when it is replaced; behind an Ingress nothing needs to.
  const certDigest = (o: K8sObject[]) =>
    spec(find(o, "Deployment")).template.metadata?.annotations?.["cxr/tls-cert-digest"];
  const other = await selfSignedCertificate(["cxr.example.org"]);
  assert.match(certDigest(renderOverlay({ overlay: "aks-lb", tls })), /^[0-9a-f]{24}$/);
  assert.notEqual(
    certDigest(renderOverlay({ overlay: "aks-lb", tls })),
    certDigest(renderOverlay({ overlay: "aks-lb", tls: other })),
  );
  assert.equal(certDigest(aks), undefined);

  const issued = renderOverlay({
    overlay: "aks",
    ingressHost: "cxr.example.org",
    certManagerIssuer: "letsencrypt",
  });
  assert.equal(
    (find(issued, "Ingress").metadata.annotations as Record<string, string>)[
      "cert-manager.io/cluster-issuer"
    ],
    "letsencrypt",
  );
  assert.ok(
    !issued.some((o) => o.metadata.name === "cxr-scoring-tls"),
    "cert-manager writes the Secret itself",
  );

  assert.throws(
    () => renderOverlay({ ingressHost: "Not A Host" }),
    /ingressHost "Not A Host" is not a DNS name/,
  );
  assert.throws(() => renderOverlay({ overlay: "local", ingressHost: "a.b" }), /have no Ingress/);
  assert.throws(
    () => renderOverlay({ sourceRanges: ["10.0.0.0/33", "example.org"] }),
    /sourceRanges must be CIDR ranges .*\["10\.0\.0\.0\/33","example\.org"\]/,
  );
  assert.throws(
    () => renderOverlay({ overlay: "aks-lb", certManagerIssuer: "x" }),
    /certManagerIssuer needs an Ingress/,
  );
  assert.throws(
    () => renderOverlay({ overlay: "local", tls }),
    /nothing in these manifests uses Secret "cxr-scoring-tls"/,
  );
  assert.throws(
    () => renderOverlay({ tls, certManagerIssuer: "x" }),
    /tls and certManagerIssuer exclude each other/,
  );
});

Deno.test("plain HTTP outside the cluster is refused unless allowed: the old public LoadBalancer, an Ingress host without TLS, redirects off", () => {
  using dir = tempDir();
  // The aks overlay as it was: a public LoadBalancer to port 80 of a plain-HTTP container.
  const root = brokenCopy(
    dir.path,
    "overlays/aks/kustomization.yaml",
    (t) => t.replace("  - ingress.yaml\n", ""),
  );
  writeFileSync(
    join(root, "overlays/aks/service-patch.yaml"),
    "apiVersion: v1\nkind: Service\nmetadata:\n  name: cxr-scoring\nspec:\n  type: LoadBalancer\n",
  );
  writeFileSync(
    join(root, "overlays/aks/kustomization.yaml"),
    readFileSync(join(root, "overlays/aks/kustomization.yaml"), "utf8").replace(
      "patches:\n",
      "patches:\n  - path: service-patch.yaml\n",
    ),
  );
  const e = caught(() => renderOverlay({ k8sDir: root }));
  assert.ok(e instanceof PlainHttpError, String(e));
  assert.equal(e.exposures.length, 1);
  assert.match(
    e.exposures[0] ?? "",
    /service\.yaml: LoadBalancer Service "cxr-scoring": port 80 reaches container "scoring" port "http", which serves plain HTTP \(serve without --tls-cert\)$/,
  );
  assert.match(e.message, /would publish plain HTTP outside the cluster.*\n.*\n.*--allow-plain-http/);
  assert.equal(renderOverlay({ k8sDir: root, allowPlainHttp: true }).length, 6);

  const objects = renderKustomization(join(K8S, "overlays/aks"));
  const ingress = find(objects, "Ingress");
  spec(ingress).rules.push({ host: "other.example.com", http: spec(ingress).rules[0].http });
  spec(ingress).rules.push({ http: spec(ingress).rules[0].http });
  (ingress.metadata.annotations as Record<string, string>)["nginx.ingress.kubernetes.io/ssl-redirect"] =
    "false";
  const found = plainHttpExposures(objects).join("\n");
  assert.match(found, /Ingress "cxr-scoring": host "other\.example\.com" has no TLS entry/);
  assert.match(found, /a rule without a host answers plain HTTP on any name/);
  assert.match(found, /ssl-redirect is "false", so plain HTTP is answered, not redirected/);
  const local = renderKustomization(join(K8S, "overlays/local"));
  firstContainer(find(local, "Deployment")).ports = [{ name: "http", containerPort: 8080, hostPort: 80 }];
  assert.match(
    plainHttpExposures(local).join("\n"),
    /container "scoring" hostPort 80 serves plain HTTP on every node/,
  );
});

Deno.test("broken TLS wiring fails validation: Ingress to a missing Service or port, a probe scheme that does not match, a TLS Secret of the wrong type", () => {
  const aks = () => renderKustomization(join(K8S, "overlays/aks"));
  let objects = aks();
  spec(find(objects, "Ingress")).rules[0].http.paths[0].backend.service.port = { name: "web" };
  assert.match(
    manifestProblems(objects).join("\n"),
    /ingress\.yaml: Ingress "cxr-scoring": backend port "web" is not a port of Service "cxr-scoring" \(ports: http\/80\)/,
  );
  objects = aks();
  spec(find(objects, "Ingress")).rules[0].http.paths[0].backend.service.name = "gone";
  assert.match(manifestProblems(objects).join("\n"), /backend Service "gone" is not in the manifests/);
  objects = aks();
  objects.push({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "cxr-scoring-tls", namespace: "cxr" },
    type: "Opaque",
    data: { "tls.crt": "eA==" },
  });
  assert.match(
    manifestProblems(objects).join("\n"),
    /TLS Secret "cxr-scoring-tls" is of type Opaque, not kubernetes\.io\/tls/,
  );
  const lb = renderKustomization(join(K8S, "overlays/aks-lb"));
  // deno-lint-ignore no-explicit-any
  delete (firstContainer(find(lb, "Deployment")) as any).livenessProbe.httpGet.scheme;
  assert.match(
    manifestProblems(lb).join("\n"),
    /container "scoring" livenessProbe uses scheme HTTP, but the container serves HTTPS \(--tls-cert\)/,
  );
});
