// The k8s client (lib/k8s/) against tests/_fake_k8s_api.ts: a local HTTPS server that answers like
// the Kubernetes API server — there is no real Kubernetes here. Behind the fake Ingress (or LoadBalancer)
// address runs a real scoring server over HTTPS (startScoringServer, lib/serve, with a self-signed
// certificate made in the test) with a tiny real model bundle.
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, REPO_ROOT, tempDir } from "./_fixtures.ts";
import { type FakeKubeOptions, makeClientCertificate, startFakeKubeApi } from "./_fake_k8s_api.ts";
import {
  deploy,
  type DeployEvent,
  JobFailedError,
  KubeApiError,
  MissingTlsSecretError,
  PlainHttpError,
  RolloutFailedError,
  RolloutTimeoutError,
  runIndexedJob,
  undeploy,
} from "../lib/k8s/mod.ts";
import { parseScoreResponse, startScoringServer } from "../lib/serve/mod.ts";
import { selfSignedCertificate } from "./_tls.ts";
import { tinyPredictor } from "../lib/serve/_testing.ts";
import { redactSecrets } from "../lib/secrets.ts";

const KEY = "scoring-key-for-k8s-tests-0123";
const SAMPLE = join(NIH_SAMPLE, "images", "00000100_000.png");

async function withFake<T>(
  options: FakeKubeOptions,
  body: (fake: Awaited<ReturnType<typeof startFakeKubeApi>>) => Promise<T>,
) {
  using dir = tempDir();
  const fake = await startFakeKubeApi(dir.path, options);
  try {
    return await body(fake);
  } finally {
    await fake.close();
  }
}

Deno.test("k8s client against a fake API server (no real Kubernetes here): deploy applies, waits, scores over HTTPS through the Ingress, undeploy deletes", async () => {
  using bundle = tempDir();
  await (await tinyPredictor(bundle.path)).dispose();
  const tls = await selfSignedCertificate(["localhost"]);
  const scoring = await startScoringServer({
    model: bundle.path,
    engine: "tfjs",
    backend: "cpu",
    port: 0,
    key: KEY,
    log: () => {},
    tls,
  });
  await scoring.ready;
  const port = Number(new URL(scoring.url).port);
  const client = Deno.createHttpClient({ caCerts: [tls.cert] });
  try {
    await withFake(
      { readyAfterPolls: 3, ingress: { ip: "127.0.0.1", port: port } },
      async (fake) => {
        const events: DeployEvent[] = [];
        const result = await deploy(fake.kubeconfig, "cxracr.azurecr.io/cxr-scoring:t1", {
          overlay: "aks",
          replicas: 2,
          scoringKey: KEY,
          ingressHost: "localhost",
          tls,
          pollMs: 5,
          onProgress: (e) => events.push(e),
        });
        assert.deepEqual(result.applied.map((r) => r.kind), [
          "Namespace",
          "Secret",
          "Secret",
          "Deployment",
          "Service",
          "HorizontalPodAutoscaler",
          "PodDisruptionBudget",
          "Ingress",
        ]);
        const patches = fake.requests.filter((r) => r.method === "PATCH");
        assert.equal(patches.length, 8);
        for (const p of patches) {
          assert.equal(p.contentType, "application/apply-patch+yaml");
          assert.match(p.query, /fieldManager=cxr/);
          assert.match(p.query, /force=true/);
        }
        assert.ok(fake.requests.every((r) => r.authorization === `Bearer ${fake.token}`));
        const secret = JSON.parse(patches.find((p) => p.path.endsWith("/secrets/cxr-scoring-key"))!.body);
        assert.equal(secret.stringData.CXR_SCORING_KEY, KEY);
        const tlsSecret = JSON.parse(patches.find((p) => p.path.endsWith("/secrets/cxr-scoring-tls"))!.body);
        assert.equal(tlsSecret.type, "kubernetes.io/tls");
        assert.equal(atob(tlsSecret.data["tls.key"]), tls.key);
        const dep = JSON.parse(patches.find((p) => p.path.endsWith("/deployments/cxr-scoring"))!.body);
        assert.equal(dep.spec.replicas, 2);
        assert.equal(dep.spec.template.spec.containers[0].image, "cxracr.azurecr.io/cxr-scoring:t1");
        const svc = JSON.parse(patches.find((p) => p.path.endsWith("/services/cxr-scoring"))!.body);
        assert.equal(svc.spec.type, "ClusterIP");
        const ing = JSON.parse(
          patches.find((p) => p.path === "/apis/networking.k8s.io/v1/namespaces/cxr/ingresses/cxr-scoring")!
            .body,
        );
        assert.deepEqual(ing.spec.tls, [{ hosts: ["localhost"], secretName: "cxr-scoring-tls" }]);

        const rollouts = events.filter((e) => e.type === "rollout").map((e) =>
          e.type === "rollout" && e.status
        );
        assert.equal(rollouts.length, 3, "ready on the third poll");
        assert.deepEqual(rollouts.map((s) => s && s.available), [0, 0, 2]);
        assert.ok(rollouts[0] && rollouts[0].waiting.includes("ContainerCreating"));
        assert.equal(result.rollout?.done, true);
        assert.equal(result.address?.type, "Ingress");
        assert.equal(result.address?.url, `https://localhost:${port}`);
        assert.equal(result.address?.clusterUrl, "http://cxr-scoring.cxr.svc");
        assert.match(result.address?.note ?? "", /point the DNS name localhost at 127\.0\.0\.1/);

        const score = (key: string) =>
          fetch(`${result.address!.url}/score?heatmap=1`, {
            method: "POST",
            body: readFileSync(SAMPLE),
            headers: { authorization: `Bearer ${key}`, "content-type": "image/png" },
            client,
          });
        const res = await score(KEY);
        const answer = parseScoreResponse(await res.text(), res.status);
        assert.equal(Object.keys(answer.probabilities).length, 14);
        assert.equal(answer.model.version, "tiny-v1");
        const png = Uint8Array.from(atob(answer.heatmap!), (c) => c.charCodeAt(0));
        assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
        const denied = await score("wrong-key-0123456789");
        assert.equal(denied.status, 401);
        await denied.body?.cancel();

        // Something cxr did not create stays.
        fake.objects.set("/api/v1/namespaces/cxr/configmaps/theirs", {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { name: "theirs", namespace: "cxr", labels: { team: "other" } },
        });
        const gone = await undeploy(fake.kubeconfig, { keepNamespace: true });
        assert.equal(gone.deleted[0]?.kind, "Ingress", "the way in closes first");
        assert.deepEqual(gone.deleted.map((r) => r.kind).sort(), [
          "Deployment",
          "HorizontalPodAutoscaler",
          "Ingress",
          "PodDisruptionBudget",
          "Secret",
          "Secret",
          "Service",
        ]);
        assert.deepEqual([...fake.objects.keys()].sort(), [
          "/api/v1/namespaces/cxr",
          "/api/v1/namespaces/cxr/configmaps/theirs",
        ]);
        const all = await undeploy(fake.kubeconfig);
        assert.deepEqual(all.deleted, [{ kind: "Namespace", name: "cxr" }]);
        // In the default namespace nothing touches the Namespace object itself.
        await deploy(fake.kubeconfig, "cxr-scoring:t1", {
          overlay: "local",
          namespace: "default",
          scoringKey: KEY,
          pollMs: 5,
        });
        assert.ok(
          !fake.requests.some((r) => r.method === "PATCH" && r.path === "/api/v1/namespaces/default"),
        );
        fake.objects.set("/api/v1/namespaces/default", {
          apiVersion: "v1",
          kind: "Namespace",
          metadata: { name: "default", labels: { "app.kubernetes.io/managed-by": "cxr" } },
        });
        const inDefault = await undeploy(fake.kubeconfig, { namespace: "default" });
        assert.equal(inDefault.deleted.length, 5);
        assert.ok(!inDefault.deleted.some((r) => r.kind === "Namespace"));
        assert.deepEqual([...fake.objects.keys()], [
          "/api/v1/namespaces/cxr/configmaps/theirs",
          "/api/v1/namespaces/default",
        ]);
        const deletes = fake.requests.filter((r) => r.method === "DELETE");
        assert.ok(deletes.every((r) => !r.path.includes("theirs")));
      },
    );
  } finally {
    client.close();
    await scoring.close();
  }
});

Deno.test("k8s client against a fake API server (no real Kubernetes here): deploy refuses plain HTTP, a placeholder host and a missing TLS Secret before applying anything; aks-lb is HTTPS", async () => {
  await withFake({ readyAfterPolls: 1, loadBalancer: { ip: "127.0.0.1", port: 443 } }, async (fake) => {
    await assert.rejects(
      deploy(fake.kubeconfig, "cxr-scoring:1", { overlay: "aks", scoringKey: KEY }),
      /the aks overlay needs ingressHost \(--ingress-host\).*"cxr\.example\.com" is a placeholder/,
    );
    const e = await deploy(fake.kubeconfig, "cxr-scoring:1", {
      overlay: "aks",
      ingressHost: "cxr.example.org",
      scoringKey: KEY,
    }).then(() => assert.fail("deploy succeeded"), (e) => e as MissingTlsSecretError);
    assert.ok(e instanceof MissingTlsSecretError, String(e));
    assert.match(
      e.message,
      /The TLS Secret "cxr\/cxr-scoring-tls" is not in the cluster.*kubectl create secret tls cxr-scoring-tls -n cxr/,
    );
    assert.ok(!fake.requests.some((r) => r.method === "PATCH"), "something was applied");

    // A Secret the user made beforehand is enough; with cert-manager nothing is checked.
    fake.objects.set("/api/v1/namespaces/cxr/secrets/cxr-scoring-tls", {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/tls",
      metadata: { name: "cxr-scoring-tls", namespace: "cxr" },
    });
    const lb = await deploy(fake.kubeconfig, "cxr-scoring:1", {
      overlay: "aks-lb",
      scoringKey: KEY,
      sourceRanges: ["203.0.113.0/24"],
      pollMs: 5,
    });
    assert.equal(lb.address?.type, "LoadBalancer");
    assert.equal(lb.address?.url, "https://127.0.0.1:443");
    assert.equal(lb.address?.clusterUrl, "https://cxr-scoring.cxr.svc:443");
    const svc = JSON.parse(
      fake.requests.find((r) => r.method === "PATCH" && r.path.endsWith("/services/cxr-scoring"))!.body,
    );
    assert.deepEqual(svc.spec.loadBalancerSourceRanges, ["203.0.113.0/24"]);
    assert.ok(!lb.applied.some((r) => r.name === "cxr-scoring-tls"), "the user's Secret is left alone");

    fake.objects.delete("/api/v1/namespaces/cxr/secrets/cxr-scoring-tls");
    const issued = await deploy(fake.kubeconfig, "cxr-scoring:1", {
      overlay: "aks",
      ingressHost: "cxr.example.org",
      certManagerIssuer: "letsencrypt",
      scoringKey: KEY,
      wait: false,
    });
    assert.equal(issued.applied.at(-1)?.kind, "Ingress");
  });
  await withFake({}, async (fake) => {
    // The aks overlay as it was (a public LoadBalancer to plain HTTP) is refused without a request.
    using dir = tempDir();
    const root = join(dir.path, "k8s");
    cpSync(join(REPO_ROOT, "k8s"), root, { recursive: true });
    writeFileSync(
      join(root, "overlays/local/kustomization.yaml"),
      readFileSync(join(root, "overlays/local/kustomization.yaml"), "utf8").replace(
        "patches:\n",
        "patches:\n  - target: {kind: Service, name: cxr-scoring}\n    patch: |-\n      - {op: replace, path: /spec/type, value: LoadBalancer}\n",
      ),
    );
    const e = await deploy(fake.kubeconfig, "cxr-scoring:1", {
      overlay: "local",
      k8sDir: root,
      scoringKey: KEY,
    })
      .then(() => assert.fail("deploy succeeded"), (e) => e as PlainHttpError);
    assert.ok(e instanceof PlainHttpError, String(e));
    assert.match(
      e.exposures[0] ?? "",
      /LoadBalancer Service "cxr-scoring": port 80 reaches container "scoring"/,
    );
    assert.equal(fake.requests.length, 0);
    const allowed = await deploy(fake.kubeconfig, "cxr-scoring:1", {
      overlay: "local",
      k8sDir: root,
      scoringKey: KEY,
      allowPlainHttp: true,
      wait: false,
    });
    assert.equal(allowed.applied.length, 6);
  });
});

for (
  const [failure, pattern] of [
    [
      "ImagePullBackOff",
      /container "scoring" is ImagePullBackOff: Back-off pulling image "cxr-scoring:missing".*attach-acr/,
    ],
    ["CrashLoopBackOff", /CrashLoopBackOff \(last exit code 1, Error\).*after 4 restarts/],
    [
      "ProgressDeadlineExceeded",
      /exceeded its progress deadline: ReplicaSet "cxr-scoring-7f9c" has timed out/,
    ],
  ] as const
) {
  Deno.test(`k8s client against a fake API server (no real Kubernetes here): a rollout failing with ${failure} says so`, async () => {
    await withFake({ failure }, async (fake) => {
      const e = await deploy(fake.kubeconfig, "cxr-scoring:missing", {
        overlay: "local",
        scoringKey: KEY,
        pollMs: 5,
      })
        .then(() => assert.fail("deploy succeeded"), (e) => e as RolloutFailedError);
      assert.ok(e instanceof RolloutFailedError, String(e));
      assert.equal(e.reason, failure);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes(fake.token));
    });
  });
}

Deno.test("k8s client against a fake API server (no real Kubernetes here): failing readiness probes are reported and named when the rollout times out", async () => {
  await withFake({ failure: "Unhealthy" }, async (fake) => {
    const seen: string[][] = [];
    const e = await deploy(fake.kubeconfig, "cxr-scoring:1", {
      overlay: "local",
      scoringKey: KEY,
      pollMs: 5,
      timeoutSeconds: 0.2,
      onProgress: (ev) => ev.type === "rollout" && seen.push(ev.status.probeFailures),
    }).then(() => assert.fail("deploy succeeded"), (e) => e as RolloutTimeoutError);
    assert.ok(e instanceof RolloutTimeoutError, String(e));
    assert.match(
      e.message,
      /^Deployment "cxr-scoring" not ready after 0\.2 s: 0\/1 available; cxr-scoring-7f9c-0: Readiness probe failed: HTTP probe failed with statuscode: 503 \(3x\)$/,
    );
    assert.ok(seen.length >= 1 && seen.every((f) => f.length === 1));
    const events = fake.requests.find((r) => r.path.endsWith("/events"))!;
    assert.equal(
      new URLSearchParams(events.query).get("fieldSelector"),
      "involvedObject.kind=Pod,reason=Unhealthy",
    );
  });
});

Deno.test("k8s client against a fake API server (no real Kubernetes here): a refused token is a KubeApiError that never shows the token", async () => {
  await withFake({}, async (fake) => {
    const bad = fake.kubeconfig + ".bad";
    const wrong = "wrong-token-abcdef0123456789";
    writeFileSync(bad, readFileSync(fake.kubeconfig, "utf8").replace(fake.token, wrong));
    const e = await deploy(bad, "cxr-scoring:1", { overlay: "local", scoringKey: KEY })
      .then(() => assert.fail("deploy succeeded"), (e) => e as KubeApiError);
    assert.ok(e instanceof KubeApiError, String(e));
    assert.equal(e.status, 401);
    assert.match(e.message, /^Applying Namespace "cxr" failed: HTTP 401: Unauthorized$/);
    assert.ok(
      !redactSecrets(`${e.message} ${wrong}`).includes(wrong),
      "the kubeconfig token is registered for redaction",
    );
    await fake.close();
    const down = await undeploy(fake.kubeconfig).then(
      () => assert.fail("undeploy succeeded"),
      (e) => e as KubeApiError,
    );
    assert.equal(down.status, 0);
    assert.match(down.message, /cannot reach the API server at https:\/\/127\.0\.0\.1:\d+/);
  });
});

Deno.test("k8s client against a fake API server (no real Kubernetes here): a client-certificate kubeconfig (AKS local accounts) works, its key is redacted, a foreign certificate is refused", async () => {
  await withFake({ auth: "client-certificate", readyAfterPolls: 1 }, async (fake) => {
    const r = await deploy(fake.kubeconfig, "cxr-scoring:1", {
      overlay: "local",
      scoringKey: KEY,
      pollMs: 5,
    });
    assert.equal(r.rollout?.done, true);
    assert.ok(fake.requests.every((q) => q.clientCertificate === "cxr-user" && q.authorization === null));
    const keyData = /client-key-data: (\S+)/.exec(readFileSync(fake.kubeconfig, "utf8"))![1];
    assert.equal(redactSecrets(`key ${keyData}`), "key ***");

    using other = tempDir();
    const foreign = await makeClientCertificate(other.path, "foreign");
    const bad = fake.kubeconfig + ".foreign";
    writeFileSync(
      bad,
      readFileSync(fake.kubeconfig, "utf8")
        .replace(/client-certificate-data: \S+/, `client-certificate-data: ${btoa(foreign.cert)}`)
        .replace(/client-key-data: \S+/, `client-key-data: ${btoa(foreign.key)}`),
    );
    const e = await undeploy(bad).then(() => assert.fail("undeploy succeeded"), (e) => e as KubeApiError);
    assert.equal(e.status, 401);
    assert.ok(!e.message.includes(btoa(foreign.key)));
  });
});

Deno.test("k8s client against a fake API server (no real Kubernetes here): an Indexed Job's shards are watched and failed indexes named", async () => {
  await withFake({ job: { completionsPerPoll: 2 } }, async (fake) => {
    const seen: number[] = [];
    const ok = await runIndexedJob(fake.kubeconfig, "score", "cxr-scoring:1", {
      shards: 7,
      parallelism: 3,
      pollMs: 5,
      suffix: "a",
      storageEnv: { AZURE_STORAGE_CONNECTION_STRING: "AccountName=x;AccountKey=eHl6;" },
      onProgress: (s) => seen.push(s.succeeded),
    });
    assert.deepEqual(seen, [2, 4, 6, 7]);
    assert.equal(ok.job, "cxr-score-a");
    assert.deepEqual(ok.status?.completedIndexes, [0, 1, 2, 3, 4, 5, 6]);
    const job = JSON.parse(
      fake.requests.find((r) => r.method === "PATCH" && r.path.endsWith("/jobs/cxr-score-a"))!.body,
    );
    assert.equal(job.spec.completionMode, "Indexed");
    assert.equal(job.spec.completions, 7);
    assert.equal(job.spec.parallelism, 3);
    const c = job.spec.template.spec.containers[0];
    assert.equal(c.image, "cxr-scoring:1");
    assert.deepEqual(c.env.find((e: { name: string }) => e.name === "SHARD_COUNT"), {
      name: "SHARD_COUNT",
      value: "7",
    });
    assert.equal(c.args[c.args.indexOf("--shard") + 1], "env/$(SHARD_COUNT)");
  });
  await withFake({ job: { failIndexes: [3, 5], completionsPerPoll: 3 } }, async (fake) => {
    const e = await runIndexedJob(fake.kubeconfig, "preprocess", "cxr-training:1", { shards: 7, pollMs: 5 })
      .then(() => assert.fail("job succeeded"), (e) => e as JobFailedError);
    assert.ok(e instanceof JobFailedError, String(e));
    assert.deepEqual(e.status.failedIndexes, [3, 5]);
    assert.match(e.message, /failed indexes: 3, 5 \(5\/7 succeeded\)/);
  });
});
