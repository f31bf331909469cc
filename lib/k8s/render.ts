/**
 * Our own renderer for the Kustomize subset that `k8s/` uses, so no `kubectl` is needed: `resources`,
 * `namespace`, `labels` (`pairs`, `includeTemplates`), `images`, `replicas` and `patches` (strategic merge, or
 * JSON 6902 with a `target`). Any other field is refused by name, so a manifest never silently renders
 * differently from `kubectl kustomize`.
 *
 * @module
 */
import { scryptSync } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { CxrSyntaxError } from "../errors.ts";
import { splitImageRef } from "../docker/format.ts";
import { K8sError } from "./errors.ts";
import { applyJsonPatch, isObject, type JsonPatchOperation, strategicMerge } from "./_patch.ts";
import { annotatePods, containersOf, setSource, sourceOf } from "./_pod_spec.ts";
import type { K8sObject } from "./object.ts";

/** A YAML file that cannot be parsed: `Cannot read manifest "<file>" at line L, column C: <detail>`. */
export class ManifestSyntaxError extends CxrSyntaxError {
  /** `line` and `column` are 1-based; `cause` is the parser's error. */
  constructor(
    detail: string,
    override readonly file: string,
    override readonly line: number,
    override readonly column: number,
    options?: ErrorOptions,
  ) {
    super(
      `Cannot read manifest "${file}" at line ${line}, column ${column}: ${detail}`,
      file,
      line,
      column,
      options,
    );
  }
}

/**
 * A kustomization that asks for something this renderer does not do, or points at nothing; the message is
 * `<file>: <detail>`, `file` the kustomization (or the missing resource).
 */
export class KustomizationError extends K8sError {
  constructor(detail: string, readonly file: string, options?: ErrorOptions) {
    super(`${file}: ${detail}`, options);
  }
}

/** Options of {@linkcode renderKustomization}: what `deno task cxr deploy` sets on top of an overlay. */
export interface RenderOptions {
  /** Image for every container whose image is `cxr-scoring` (or the overlay's replacement of it). */
  image?: string | undefined;
  /** Replicas of the scoring Deployment; the HPA's minimum follows (and its maximum if lower). */
  replicas?: number | undefined;
  /** Namespace for every object (the Namespace object is renamed too). */
  namespace?: string | undefined;
  /**
   * Fills the scoring-key Secret; without it the placeholder stays. The pods that read it get an annotation
   * {@linkcode SCORING_KEY_DIGEST_ANNOTATION}, so a new key rolls them (a container reads its environment once).
   */
  scoringKey?: string | undefined;
}

/** The kustomization fields this renderer does (besides `apiVersion` and `kind`). */
const SUPPORTED_FIELDS = ["resources", "namespace", "labels", "images", "replicas", "patches"];
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"]);

/**
 * Parses every YAML document of a file into objects.
 *
 * @throws {ManifestSyntaxError} With the file, line and column of the first error.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const f = Deno.makeTempFileSync({ suffix: ".yaml" });
 * Deno.writeTextFileSync(f, "a: 1\n---\nb: c: d\n");
 * assert.throws(() => readYamlDocuments(f), /at line 3, column 4: /);
 * Deno.writeTextFileSync(f, "a: 1\n---\nb: 2\n");
 * assert.deepEqual(readYamlDocuments(f), [{ a: 1 }, { b: 2 }]);
 * ```
 */
export function readYamlDocuments(file: string): unknown[] {
  const text = readFileSync(file, "utf8");
  const out: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    const e = doc.errors[0];
    if (e) {
      const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
      const detail = e.message.split("\n", 1)[0] ?? "";
      const message = detail.replace(/ at line \d+, column \d+:?$/, "");
      throw new ManifestSyntaxError(message, file, pos.line, pos.col, { cause: e });
    }
    const value = doc.toJS();
    if (value !== null && value !== undefined) out.push(value);
  }
  return out;
}

function imageName(image: string): string {
  return splitImageRef(image.replace(/@.*$/, ""))[0];
}

function readObjects(path: string, seen: Set<string>): K8sObject[] {
  const full = resolve(path);
  if (!existsSync(full)) throw new KustomizationError("does not exist", path);
  if (statSync(full).isDirectory()) return renderDir(full, seen);
  const file = relative(Deno.cwd(), full);
  return readYamlDocuments(full).map((doc, i) => {
    if (!isObject(doc) || typeof doc.kind !== "string" || !isObject(doc.metadata)) {
      throw new KustomizationError(`document ${i + 1} is not a Kubernetes object (kind, metadata)`, file);
    }
    return setSource(doc as unknown as K8sObject, file);
  });
}

function matches(obj: K8sObject, target: Record<string, unknown>): boolean {
  return (target.kind === undefined || target.kind === obj.kind) &&
    (target.name === undefined || target.name === obj.metadata.name);
}

function renderDir(dir: string, seen: Set<string>): K8sObject[] {
  const kfile = join(dir, "kustomization.yaml");
  const label = relative(Deno.cwd(), kfile);
  if (!existsSync(kfile)) {
    throw new KustomizationError("has no kustomization.yaml", relative(Deno.cwd(), dir));
  }
  if (seen.has(kfile)) throw new KustomizationError("is included twice (a resource cycle?)", label);
  seen.add(kfile);
  const [k] = readYamlDocuments(kfile);
  if (!isObject(k)) throw new KustomizationError("is not a mapping", label);
  const unknown = Object.keys(k).filter((f) => ![...SUPPORTED_FIELDS, "apiVersion", "kind"].includes(f));
  if (unknown.length > 0) {
    const supported = SUPPORTED_FIELDS.join(", ");
    const why = `uses ${unknown.join(", ")}, which this renderer does not support (supported: ${supported})`;
    throw new KustomizationError(why, label);
  }
  let objects = ((k.resources as string[] | undefined) ?? []).flatMap((r) => readObjects(join(dir, r), seen));
  for (const p of (k.patches as Record<string, unknown>[] | undefined) ?? []) {
    const docs = typeof p.path === "string"
      ? readYamlDocuments(join(dir, p.path))
      : [parseAllDocuments(String(p.patch ?? ""))[0]?.toJS()];
    const target = isObject(p.target) ? p.target : undefined;
    for (const doc of docs) {
      const json = Array.isArray(doc);
      if (!json && !isObject(doc)) continue;
      if (json && !target) {
        throw new KustomizationError("a JSON 6902 patch needs a target (kind, name)", label);
      }
      const named = doc as Partial<K8sObject>;
      const t = target ?? { kind: named.kind, name: named.metadata?.name };
      const hits = objects.filter((o) => matches(o, t));
      if (hits.length === 0) {
        const what = json ? `patch target ${JSON.stringify(t)}` : `patch for ${t.kind} "${t.name}"`;
        throw new KustomizationError(`${what} matches nothing`, label);
      }
      const patch = (o: K8sObject) =>
        json ? applyJsonPatch(o, doc as JsonPatchOperation[]) : strategicMerge(o, doc) as K8sObject;
      objects = objects.map((o) => hits.includes(o) ? setSource(patch(o), sourceOf(o)) : o);
    }
  }
  for (const r of (k.replicas as { name: string; count: number }[] | undefined) ?? []) {
    const hits = objects.filter((o) =>
      o.metadata.name === r.name && isObject(o.spec) && "replicas" in o.spec
    );
    if (hits.length === 0) throw new KustomizationError(`replicas for "${r.name}" matches nothing`, label);
    for (const o of hits) (o.spec as Record<string, unknown>).replicas = r.count;
  }
  for (const img of (k.images as Record<string, string>[] | undefined) ?? []) {
    for (const c of objects.flatMap(containersOf)) {
      if (imageName(String(c.image)) !== img.name) continue;
      const name = img.newName ?? img.name;
      c.image = img.digest ? `${name}@${img.digest}` : `${name}:${img.newTag ?? "latest"}`;
    }
  }
  for (const l of (k.labels as Record<string, unknown>[] | undefined) ?? []) {
    const pairs = (l.pairs ?? {}) as Record<string, string>;
    for (const o of objects) {
      o.metadata.labels = { ...o.metadata.labels, ...pairs };
      const t = (o.spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)
        ?.template;
      if (l.includeTemplates && t) {
        t.metadata = { ...t.metadata, labels: { ...t.metadata?.labels, ...pairs } };
      }
    }
  }
  if (typeof k.namespace === "string") setNamespace(objects, k.namespace);
  return objects;
}

function setNamespace(objects: K8sObject[], ns: string): void {
  for (const o of objects) {
    if (o.kind === "Namespace") o.metadata.name = ns;
    else if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = ns;
  }
}

/**
 * Renders a folder with a `kustomization.yaml` (a base or an overlay) into its objects, then applies
 * `options` (image, replicas, namespace, scoring key) the way `deno task cxr deploy` does.
 *
 * @param dir The kustomization folder, e.g. `k8s/overlays/aks`.
 * @throws {KustomizationError} For an unsupported field, a patch or resource that matches nothing.
 * @throws {ManifestSyntaxError} For a YAML file that cannot be parsed.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { containersOf } from "./_pod_spec.ts";
 * const objects = renderKustomization("k8s/overlays/aks", { image: "acr.example/cxr:1", replicas: 4 });
 * const d = objects.find((o) => o.kind === "Deployment")!;
 * assert.equal((d.spec as { replicas: number }).replicas, 4);
 * assert.equal(containersOf(d)[0]?.image, "acr.example/cxr:1");
 * assert.equal(d.metadata.labels?.["app.kubernetes.io/managed-by"], "cxr");
 * ```
 */
export function renderKustomization(dir: string, options: RenderOptions = {}): K8sObject[] {
  const objects = renderDir(resolve(dir), new Set());
  if (options.namespace !== undefined) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(options.namespace)) {
      throw new RangeError(
        `namespace "${options.namespace}" is not a DNS label (lowercase letters, digits, -)`,
      );
    }
    setNamespace(objects, options.namespace);
  }
  if (options.replicas !== undefined) {
    if (!Number.isSafeInteger(options.replicas) || options.replicas < 1) {
      throw new RangeError(`replicas must be an integer >= 1, got ${options.replicas}`);
    }
    for (const o of objects) {
      const spec = o.spec as Record<string, number> | undefined;
      if (o.kind === "Deployment" && spec) spec.replicas = options.replicas;
      if (o.kind === "HorizontalPodAutoscaler" && spec) {
        spec.minReplicas = options.replicas;
        spec.maxReplicas = Math.max(spec.maxReplicas ?? 0, options.replicas);
      }
    }
  }
  if (options.image !== undefined) {
    for (const c of objects.filter((o) => o.kind === "Deployment").flatMap(containersOf)) {
      if (c.name === "scoring") c.image = options.image;
    }
  }
  if (options.scoringKey !== undefined) {
    const keySecrets = new Set<string>();
    for (const o of objects) {
      const data = o.stringData as Record<string, string> | undefined;
      if (o.kind === "Secret" && data && "CXR_SCORING_KEY" in data) {
        data.CXR_SCORING_KEY = options.scoringKey;
        keySecrets.add(o.metadata.name);
      }
    }
    // A slow, salted digest: it tells pods the key changed without helping anyone guess the key.
    const digest = scryptSync(options.scoringKey, "cxr-scoring-key-digest", 12, { N: 16384 }).toString("hex");
    for (const o of objects) {
      const reads = containersOf(o).some((c) =>
        ((c.env as { valueFrom?: { secretKeyRef?: { name: string } } }[] | undefined) ?? [])
          .some((e) => keySecrets.has(e.valueFrom?.secretKeyRef?.name ?? ""))
      );
      if (reads) annotatePods(o, SCORING_KEY_DIGEST_ANNOTATION, digest);
    }
  }
  return objects;
}

/** Pod-template annotation that changes with the scoring key, so `deploy` with a new key rolls the pods. */
export const SCORING_KEY_DIGEST_ANNOTATION = "cxr/scoring-key-digest";
/**
 * Objects as one multi-document YAML text (what `kubectl apply -f -` reads), secrets' values masked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const text = toYaml([{ apiVersion: "v1", kind: "Secret", metadata: { name: "k" }, stringData: { KEY: "s3cret-value" } }]);
 * assert.match(text, /^apiVersion: v1\nkind: Secret/);
 * assert.ok(!text.includes("s3cret-value"));
 * ```
 */
export function toYaml(objects: readonly K8sObject[]): string {
  return objects.map((o) => {
    let shown: unknown = o;
    if (o.kind === "Secret") {
      const mask = (d: unknown) =>
        isObject(d) ? Object.fromEntries(Object.keys(d).map((key) => [key, "***"])) : d;
      shown = {
        ...o,
        ...(o.stringData ? { stringData: mask(o.stringData) } : {}),
        ...(o.data ? { data: mask(o.data) } : {}),
      };
    }
    return stringify(shown, { lineWidth: 0 });
  }).join("---\n");
}
