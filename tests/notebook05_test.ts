import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NIH_SAMPLE, REPO_ROOT, runCxr, tempDir } from "./_fixtures.ts";
import { codeCells } from "./_kernel.ts";
import { startFakeKubeApi } from "./_fake_k8s_api.ts";
import { cellText, type Notebook, readNotebook } from "../lib/report/mod.ts";
import { startScoringServer } from "../lib/serve/mod.ts";
import { tinyPredictor } from "../lib/serve/_testing.ts";
import { selfSignedCertificate } from "./_tls.ts";

// Notebook 05 executed as `deno task report` runs it: once render-only (no kubeconfig), once against
// tests/_fake_k8s_api.ts — a local HTTPS server answering like the Kubernetes API, not Kubernetes — whose
// Ingress address points at a real scoring server over HTTPS (a self-signed certificate made here, trusted by
// the kernel through DENO_CERT) with a tiny model.

const NOTEBOOK = join(REPO_ROOT, "notebooks/05_deploy.ipynb");
const KEY = "notebook05-scoring-key-0123456789";

function outputsOf(nb: Notebook, mime: string): string[] {
  return codeCells(nb).flatMap((c) => c.outputs ?? []).filter((o) => o.data?.[mime] !== undefined)
    .map((o) => cellText(o.data![mime] as string | string[]));
}

async function report(dir: string, params: string[], env: Record<string, string> = {}): Promise<Notebook> {
  const r = await runCxr(
    ["report", NOTEBOOK, "--out", join(dir, "reports"), "--json", ...params.flatMap((p) => ["--param", p])],
    { env },
  );
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout).notebooks[0];
  assert.equal(s.ok, true, JSON.stringify(s.error));
  const nb = readNotebook(s.ipynb);
  assert.ok(codeCells(nb).every((c) => !(c.outputs ?? []).some((o) => o.output_type === "error")));
  return nb;
}

Deno.test("notebook 05 with no kubeconfig renders and validates the manifests, and says it deploys nothing", async () => {
  using dir = tempDir();
  const nb = await report(dir.path, ["overlay=local", "replicas=1", "image=cxr-scoring:dev"]);
  const html = outputsOf(nb, "text/html");
  assert.ok(
    html.some((h) => h.includes("<td>Deployment</td><td>cxr-scoring</td><td>cxr</td>")),
    "manifest table",
  );
  const yaml = html.find((h) => h.includes("image: cxr-scoring:dev"));
  assert.ok(yaml, "the YAML with the image");
  assert.ok(yaml.includes("CXR_SCORING_KEY: &quot;***&quot;"), "the Secret masked (HTML-escaped)");
  assert.ok(html.some((h) => h.includes("<td>Job</td>")), "the Indexed Job");
  const md = outputsOf(nb, "text/markdown").join("\n");
  assert.match(md, /\*\*Not deploying\*\*: `kubeconfig` is empty/);
  assert.match(md, /Nothing to tear down \(render-only\)/);
  assert.ok(html.some((h) => h.includes("Not scoring: nothing was deployed")));
});

Deno.test({
  name:
    "notebook 05 against a fake API server (no real Kubernetes here): deploys, waits, scores with heatmaps, tears down",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    using dir = tempDir();
    const bundle = join(dir.path, "bundle");
    await (await tinyPredictor(bundle)).dispose();
    const tls = await selfSignedCertificate(["localhost"]);
    const certFile = join(dir.path, "tls.crt");
    const keyFile = join(dir.path, "tls.key");
    Deno.writeTextFileSync(certFile, tls.cert);
    Deno.writeTextFileSync(keyFile, tls.key);
    const server = await startScoringServer({
      model: bundle,
      engine: "tfjs",
      backend: "cpu",
      port: 0,
      key: KEY,
      log: () => {},
      tls,
    });
    await server.ready;
    const port = Number(new URL(server.url).port);
    const fake = await startFakeKubeApi(dir.path, { readyAfterPolls: 2, ingress: { ip: "127.0.0.1", port } });
    try {
      const nb = await report(
        dir.path,
        [
          `kubeconfig=${fake.kubeconfig}`,
          `imagesDir=${join(NIH_SAMPLE, "images")}`,
          "scoreCount=2",
          "pollMs=10",
          "ingressHost=localhost",
          `tlsCert=${certFile}`,
          `tlsKey=${keyFile}`,
        ],
        { CXR_SCORING_KEY: KEY, DENO_CERT: certFile },
      );
      const md = outputsOf(nb, "text/markdown").join("\n");
      assert.match(
        md,
        /\*\*Deployed\*\* `cxracr\.azurecr\.io\/cxr-scoring:latest` to namespace `cxr` on https:\/\/127\.0\.0\.1:\d+/,
      );
      assert.match(md, /Rollout: 3\/3 replicas available/);
      assert.ok(md.includes(`Endpoint: \`https://localhost:${port}/score\``), md);
      assert.match(
        md,
        /Deleted 8 objects: Ingress cxr\/cxr-scoring.*Deployment cxr\/cxr-scoring.*Namespace cxr/,
      );
      const gallery = outputsOf(nb, "text/html").find((h) => h.includes("Scored through"));
      assert.ok(gallery, "score gallery");
      assert.equal(gallery.match(/<img width="256" src="data:image\/png;base64,iVBORw0KGgo/g)?.length, 2);
      assert.match(gallery, /00000100_000\.png: \w+ 0\.\d{3} \(heatmap: \w+\)/);
      assert.ok(
        fake.requests.some((r) => r.method === "PATCH" && r.path.endsWith("/deployments/cxr-scoring")),
      );
      assert.equal(fake.objects.size, 0, "torn down");
      const written = readFileSync(join(dir.path, "reports", "05_deploy.ipynb"), "utf8");
      assert.ok(!written.includes(KEY) && !written.includes(fake.token), "no key or token in the notebook");
      assert.ok(!written.includes(tls.keyLine), "no TLS private key in the notebook");
    } finally {
      await fake.close();
      await server.close();
    }
  },
});
