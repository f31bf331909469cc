// `k8s render`, `deploy`, `undeploy` and `jobs run` as real subprocesses. The cluster is
// tests/_fake_k8s_api.ts — a local HTTPS server answering like the Kubernetes API, not Kubernetes — and
// behind its Ingress address runs a real scoring server over HTTPS (startScoringServer, a self-signed
// certificate made in the test and trusted by the CLI through DENO_CERT) with a tiny model bundle.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { NIH_SAMPLE, runCxr, tempDir } from "./_fixtures.ts";
import { startFakeKubeApi } from "./_fake_k8s_api.ts";
import { startScoringServer } from "../lib/serve/mod.ts";
import { tinyPredictor } from "../lib/serve/_testing.ts";
import { selfSignedCertificate } from "./_tls.ts";

const KEY = "cli-scoring-key-abcdef0123456789";
const PNG = join(NIH_SAMPLE, "images", "00000100_000.png");

Deno.test("k8s render prints validated YAML with secrets masked; an unknown overlay is a usage error", async () => {
  const r = await runCxr(["k8s", "render", "--overlay", "aks", "--image", "me.azurecr.io/s:3"]);
  assert.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
  assert.deepEqual(docs.map((d) => d.kind), [
    "Namespace",
    "Secret",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
  ]);
  assert.equal(docs[1].stringData.CXR_SCORING_KEY, "***");
  assert.equal(docs[2].spec.template.spec.containers[0].image, "me.azurecr.io/s:3");
  assert.equal(docs[3].spec.type, "ClusterIP");
  assert.ok(!r.stderr.includes("plain HTTP"), r.stderr);
  const bad = await runCxr(["k8s", "render", "--overlay", "gke"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--overlay must be one of: aks, aks-lb, local, gpu, jobs, base; got "gke"/);
});

Deno.test("deploy --render-only writes the validated manifests and needs no cluster or key", async () => {
  using dir = tempDir();
  const r = await runCxr([
    ...["deploy", "--image", "cxr-scoring:dev", "--overlay", "local", "--namespace", "demo"],
    ...["--render-only", dir.path, "--json"],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.out, join(dir.path, "local.yaml"));
  assert.equal(out.validated, true);
  assert.equal(out.objects.length, 6);
  assert.ok(
    out.objects.every((o: { kind: string; namespace?: string }) =>
      o.kind === "Namespace" || o.namespace === "demo"
    ),
  );
  const docs = parseAllDocuments(readFileSync(out.out, "utf8")).map((d) => d.toJS());
  assert.equal(docs[2].spec.replicas, 1);

  const lb = await runCxr([
    ...[
      "deploy",
      "--image",
      "cxr-scoring:dev",
      "--overlay",
      "aks-lb",
      "--source-ranges",
      "203.0.113.0/24, 10.1.0.0/16",
    ],
    ...["--render-only", dir.path],
  ]);
  assert.equal(lb.code, 0, lb.stderr);
  const svc = parseAllDocuments(readFileSync(join(dir.path, "aks-lb.yaml"), "utf8")).map((d) => d.toJS())
    .find((d) => d.kind === "Service");
  assert.deepEqual(svc.spec.loadBalancerSourceRanges, ["203.0.113.0/24", "10.1.0.0/16"]);
  const alone = await runCxr(["deploy", "--image", "x", "--tls-cert", "c.pem", "--render-only", dir.path]);
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /--tls-cert and --tls-key go together/);
  const badRange = await runCxr([
    "deploy",
    "--image",
    "x",
    "--source-ranges",
    "everyone",
    "--render-only",
    dir.path,
  ]);
  assert.equal(badRange.code, 1);
  assert.match(badRange.stderr, /sourceRanges must be CIDR ranges/);
});

Deno.test({
  name:
    "deploy, jobs run and undeploy through the CLI against a fake API server (no real Kubernetes here); no token or key printed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    using dir = tempDir();
    const bundle = join(dir.path, "bundle");
    await (await tinyPredictor(bundle)).dispose();
    const tls = await selfSignedCertificate(["localhost"]);
    const certFile = join(dir.path, "tls.crt");
    const keyFile = join(dir.path, "tls.key");
    Deno.writeTextFileSync(certFile, tls.cert);
    Deno.writeTextFileSync(keyFile, tls.key);
    const scoring = await startScoringServer({
      model: bundle,
      engine: "tfjs",
      backend: "cpu",
      port: 0,
      key: KEY,
      log: () => {},
      tls,
    });
    await scoring.ready;
    const port = Number(new URL(scoring.url).port);
    const fake = await startFakeKubeApi(dir.path, {
      readyAfterPolls: 1,
      ingress: { ip: "127.0.0.1", port: port },
      job: { completionsPerPoll: 2 },
    });
    const k = ["--kubeconfig", fake.kubeconfig];
    // The CLI trusts the test's certificate the way a user trusts a private CA.
    const env = { CXR_SCORING_KEY: KEY, DENO_CERT: certFile };
    const printed: string[] = [];
    const cxr = async (args: string[], options: { env?: Record<string, string> } = { env }) => {
      const r = await runCxr(args, options);
      printed.push(r.stdout, r.stderr);
      return r;
    };
    try {
      await t.step(
        "deploy --score: applied, rolled out, scored over HTTPS through the Ingress address",
        async () => {
          const r = await cxr([
            "deploy",
            ...k,
            "--image",
            "cxr-scoring:1",
            "--replicas",
            "2",
            ...["--ingress-host", "localhost", "--tls-cert", certFile, "--tls-key", keyFile],
            "--score",
            PNG,
            "--json",
          ]);
          assert.equal(r.code, 0, r.stderr);
          const out = JSON.parse(r.stdout);
          assert.equal(out.server, fake.url);
          assert.equal(out.namespace, "cxr");
          assert.equal(out.overlay, "aks");
          assert.equal(out.applied.length, 8);
          assert.deepEqual([out.rollout.done, out.rollout.available, out.rollout.desired], [true, 2, 2]);
          assert.equal(out.address.url, `https://localhost:${port}`);
          assert.match(
            r.stderr,
            /endpoint https:\/\/localhost:\d+ \(point the DNS name localhost at 127\.0\.0\.1/,
          );
          assert.equal(out.score.model.version, "tiny-v1");
          assert.equal(typeof out.score.top.probability, "number");
          assert.match(r.stderr, /applied Deployment cxr\/cxr-scoring/);
          assert.match(r.stderr, /rollout cxr-scoring: 2\/2 available/);
        },
      );
      await t.step("deploy without CXR_SCORING_KEY is refused", async () => {
        const r = await cxr(["deploy", ...k, "--image", "cxr-scoring:1"], {});
        assert.equal(r.code, 2);
        assert.match(r.stderr, /CXR_SCORING_KEY is not set/);
      });
      await t.step(
        "deploy --overlay aks without --ingress-host is refused before touching the cluster",
        async () => {
          const before = fake.requests.length;
          const r = await cxr(["deploy", ...k, "--image", "cxr-scoring:1"]);
          assert.equal(r.code, 1);
          assert.match(r.stderr, /the aks overlay needs ingressHost \(--ingress-host\)/);
          assert.equal(fake.requests.length, before);
        },
      );
      await t.step("a rollout stuck on ImagePullBackOff exits 1 with the reason", async () => {
        fake.options.failure = "ImagePullBackOff";
        const r = await cxr(["deploy", ...k, "--image", "cxr-scoring:nope", "--overlay", "local"]);
        fake.options.failure = undefined;
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /error: RolloutFailedError: Deployment "cxr-scoring": pod cxr-scoring-7f9c-0 container "scoring" is ImagePullBackOff: Back-off pulling image "cxr-scoring:nope"/,
        );
      });
      await t.step(
        "jobs run score --shards 3: the Indexed Job is created and its shards watched to completion",
        async () => {
          const r = await cxr([
            "jobs",
            "run",
            "score",
            "--shards",
            "3",
            ...k,
            "--image",
            "cxr-scoring:1",
            "--poll-ms",
            "10",
            "--json",
          ]);
          assert.equal(r.code, 0, r.stderr);
          const out = JSON.parse(r.stdout);
          assert.match(out.job, /^cxr-score-/);
          assert.deepEqual(out.applied.map((a: { kind: string }) => a.kind), ["Namespace", "Secret", "Job"]);
          assert.deepEqual([out.status.complete, out.status.succeeded, out.status.completions], [true, 3, 3]);
          assert.deepEqual(out.status.completedIndexes, [0, 1, 2]);
          assert.match(r.stderr, /warning: storage is the embedded Azurite/);
          assert.match(r.stderr, new RegExp(`job ${out.job}: 2/3 succeeded`));
        },
      );
      await t.step("jobs run preprocess with a failing shard exits 1 naming the index", async () => {
        fake.options.job = { failIndexes: [2], completionsPerPoll: 4 };
        const r = await cxr([
          "jobs",
          "run",
          "preprocess",
          "--shards",
          "4",
          ...k,
          "--image",
          "cxr-training:1",
          "--poll-ms",
          "10",
        ]);
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /error: JobFailedError: Job "cxr-preprocess-\w+" failed: FailedIndexes: .*failed indexes: 2 \(3\/4 succeeded\)/,
        );
        const bad = await cxr(["jobs", "run", "train", "--shards", "4", ...k, "--image", "x"]);
        assert.equal(bad.code, 2);
        assert.match(bad.stderr, /jobs run takes one of: preprocess, score; got "train"/);
      });
      await t.step("undeploy deletes everything labelled managed-by=cxr, the namespace last", async () => {
        const r = await cxr(["undeploy", ...k, "--json"]);
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout);
        const kinds = out.deleted.map((d: { kind: string }) => d.kind);
        assert.equal(kinds.at(-1), "Namespace");
        for (
          const kind of [
            "Ingress",
            "Job",
            "Deployment",
            "Service",
            "Secret",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
          ]
        ) {
          assert.ok(kinds.includes(kind), kind);
        }
        assert.equal(fake.objects.size, 0);
      });
      const all = printed.join("\n");
      assert.ok(!all.includes(fake.token), "kubeconfig token printed");
      assert.ok(!all.includes(KEY), "scoring key printed");
      assert.ok(!all.includes(tls.keyLine), "TLS private key printed");
    } finally {
      await fake.close();
      await scoring.close();
    }
  },
});
