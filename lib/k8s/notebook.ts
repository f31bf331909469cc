/**
 * Notebook 05's steps, each one call that returns a summary rendering itself in Jupyter: the rendered
 * manifests, the deployment (or, with no kubeconfig, a statement that nothing is deployed), images scored
 * through the deployed endpoint, and the teardown.
 *
 * @module
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { Secret } from "../secrets.ts";
import { escapeHtml, htmlTable, JUPYTER_DISPLAY } from "../display.ts";
import { scoreRemote } from "../serve/client.ts";
import type { ScoreResponseJson } from "../serve/score_format.ts";
import { deploy, type DeployOptions, type DeployResult, undeploy } from "./deploy.ts";
import type { ObjectRef } from "./client.ts";
import type { K8sObject } from "./object.ts";
import { toYaml } from "./render.ts";

/**
 * Rendered manifests as a table of objects plus the YAML (secrets masked); a summary in Jupyter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderOverlay } from "./deploy.ts";
 * import { JUPYTER_DISPLAY } from "../display.ts";
 * const report = new ManifestReport(renderOverlay({ overlay: "local" }), "local");
 * const html = report[JUPYTER_DISPLAY]()["text/html"];
 * assert.match(html, /<td>Deployment<\/td><td>cxr-scoring<\/td><td>cxr<\/td>/);
 * assert.match(html, /validated against the Kubernetes OpenAPI schemas/);
 * ```
 */
export class ManifestReport {
  /** @param overlay The overlay the objects came from. */
  constructor(readonly objects: K8sObject[], readonly overlay: string) {}
  /** Multi-document YAML, secrets masked. */
  get yaml(): string {
    return toYaml(this.objects);
  }
  [JUPYTER_DISPLAY](): { "text/html": string; "text/plain": string } {
    const rows = this.objects.map((o) => [o.kind, o.metadata.name, o.metadata.namespace ?? ""]);
    const html = `<p>Overlay <code>${escapeHtml(this.overlay)}</code>: ${this.objects.length} objects, ` +
      "validated against the Kubernetes OpenAPI schemas and cross-checked " +
      "(selectors, ports, probes, Secret keys).</p>" +
      htmlTable(["kind", "name", "namespace"], rows) +
      `<details><summary>YAML (secrets masked)</summary><pre>${escapeHtml(this.yaml)}</pre></details>`;
    return { "text/html": html, "text/plain": this.yaml };
  }
}

/** What {@linkcode deployStep} did: deployed, or nothing because no kubeconfig was given. */
export class DeployStep {
  /** @param kubeconfig The kubeconfig used ("" = render-only). */
  constructor(readonly kubeconfig: string, readonly result?: DeployResult) {}
  /** The scoring URL from outside the cluster, if there is one. */
  get url(): string | undefined {
    return this.result?.address?.url;
  }
  [JUPYTER_DISPLAY](): { "text/markdown": string; "text/plain": string } {
    const r = this.result;
    const md = !r
      ? "**Not deploying**: `kubeconfig` is empty, so the manifests above were only rendered and validated. " +
        "Set `kubeconfig` (e.g. from `az aks get-credentials --file aks.kubeconfig`) to deploy."
      : [
        `**Deployed** \`${r.image}\` to namespace \`${r.namespace}\` on ${r.server} (overlay ${r.overlay}): ` +
        `${r.applied.length} objects applied.`,
        r.rollout ? `Rollout: ${r.rollout.available}/${r.rollout.desired} replicas available.` : "",
        r.address?.url ? `Endpoint: \`${r.address.url}/score\`` : r.address?.note ?? "",
      ].filter(Boolean).join("\n\n");
    return { "text/markdown": md, "text/plain": md };
  }
}

/**
 * Deploys when `kubeconfig` is set (with a live rollout display); with `""` deploys nothing and says so.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUPYTER_DISPLAY } from "../display.ts";
 * const step = await deployStep("", "cxr-scoring:1");
 * assert.equal(step.result, undefined);
 * assert.match(step[JUPYTER_DISPLAY]()["text/markdown"], /Not deploying/);
 * ```
 */
export async function deployStep(
  kubeconfig: string,
  image: string,
  options: DeployOptions = {},
): Promise<DeployStep> {
  if (!kubeconfig) return new DeployStep("");
  return new DeployStep(kubeconfig, await deploy(kubeconfig, image, { progress: true, ...options }));
}

/** One image (its file name) scored through the endpoint. */
export interface EndpointScore extends ScoreResponseJson {
  image: string;
}

/** Images scored through the deployed Service, with heatmaps; a gallery in Jupyter. */
export class EndpointScores {
  /** @param skipped Why nothing was scored (then `url` is undefined). */
  constructor(
    readonly url: string | undefined,
    readonly scores: EndpointScore[],
    readonly skipped?: string,
  ) {}
  [JUPYTER_DISPLAY](): { "text/html": string; "text/plain": string } {
    if (this.skipped) {
      return { "text/html": `<p>${escapeHtml(this.skipped)}</p>`, "text/plain": this.skipped };
    }
    const cells = this.scores.map((s) =>
      `<figure style="display:inline-block;margin:4px">` +
      (s.heatmap ? `<img width="256" src="data:image/png;base64,${s.heatmap}"/>` : "") +
      `<figcaption>${escapeHtml(s.image)}: ${escapeHtml(s.top.class)} ${s.top.probability.toFixed(3)}` +
      `${s.heatmapClass ? ` (heatmap: ${escapeHtml(s.heatmapClass)})` : ""}</figcaption></figure>`
    );
    const text = this.scores.map((s) => `${s.image}: ${s.top.class} ${s.top.probability.toFixed(3)}`)
      .join("\n");
    return {
      "text/html": `<p>Scored through ${escapeHtml(this.url ?? "")}/score</p>${cells.join("")}`,
      "text/plain": text,
    };
  }
}

/**
 * Scores the first `count` PNG/JPEG files of `imagesDir` through the deployed endpoint with the key, asking
 * for heatmaps. Skips (and says why) when nothing was deployed or the Service has no outside address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const s = await scoreDeployed(new DeployStep(""), "images", { key: "k-0123456789abcdef" });
 * assert.match(s.skipped!, /nothing was deployed/);
 * ```
 */
export async function scoreDeployed(
  step: DeployStep,
  imagesDir: string,
  options: { key?: Secret | string; count?: number } = {},
): Promise<EndpointScores> {
  if (!step.result) {
    return new EndpointScores(undefined, [], "Not scoring: nothing was deployed (render-only).");
  }
  const url = step.url;
  if (!url) {
    return new EndpointScores(undefined, [], `Not scoring: ${step.result.address?.note ?? "no address"}`);
  }
  const names = readdirSync(imagesDir).filter((n) => /\.(png|jpe?g)$/i.test(n)).sort()
    .slice(0, options.count ?? 2);
  const scores: EndpointScore[] = [];
  for (const image of names) {
    const r = await scoreRemote(url, await Deno.readFile(join(imagesDir, image)), {
      key: options.key ?? null,
      heatmap: true,
    });
    scores.push({ image, ...r });
  }
  return new EndpointScores(url, scores);
}

/** What {@linkcode teardownStep} deleted. */
export class TeardownSummary {
  constructor(readonly deleted: ObjectRef[], readonly note: string) {}
  [JUPYTER_DISPLAY](): { "text/markdown": string; "text/plain": string } {
    const list = this.deleted.map((d) => `${d.kind} ${d.namespace ? `${d.namespace}/` : ""}${d.name}`)
      .join(", ");
    const md = `${this.note}${list ? `: ${list}` : ""}`;
    return { "text/markdown": md, "text/plain": md };
  }
}

/**
 * Deletes what the deployment created, unless `keep` (or nothing was deployed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const t = await teardownStep(new DeployStep(""));
 * assert.deepEqual(t.deleted, []);
 * assert.match(t.note, /Nothing to tear down/);
 * ```
 */
export async function teardownStep(
  step: DeployStep,
  options: { keep?: boolean } = {},
): Promise<TeardownSummary> {
  if (!step.result) return new TeardownSummary([], "Nothing to tear down (render-only)");
  if (options.keep) return new TeardownSummary([], `Kept running in namespace ${step.result.namespace}`);
  const r = await undeploy(step.kubeconfig, { namespace: step.result.namespace });
  return new TeardownSummary(r.deleted, `Deleted ${r.deleted.length} objects`);
}
