/**
 * A fake Kubernetes API server for tests — NOT Kubernetes (no API server can run here, see DESIGN.md). It is
 * a local HTTPS server with a self-signed certificate made at test time by `openssl`, whose CA goes into the
 * kubeconfig it writes, exactly as an AKS kubeconfig carries its cluster CA. It answers the API's JSON for
 * the few resources the deploy step uses: discovery, server-side apply (PATCH
 * `application/apply-patch+yaml`), GET of objects and lists (with `labelSelector`), DELETE. It records every
 * request, and simulates what the client must tell apart: a rollout that becomes ready after some polls, an
 * image that cannot be pulled, a crash loop, a progress deadline; an Indexed Job whose indexes complete over
 * polls, some of them failing; a LoadBalancer Service, and an Ingress (networking.k8s.io/v1, as an ingress
 * controller would publish it), whose address points where the test says.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";

/** One request the fake server received. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  contentType: string | null;
  authorization: string | null;
  /** Common name of the verified client certificate, if one was presented. */
  clientCertificate?: string;
  body: string;
}

/** What the fake cluster does. */
export interface FakeKubeOptions {
  /** Bearer token the server accepts (others get 401). @default "fake-token-0123456789abcdef" */
  token?: string;
  /**
   * How the kubeconfig authenticates: a bearer token, or a client certificate signed by the server's client
   * CA (what `az aks get-credentials` gives for local accounts). @default "token"
   */
  auth?: "token" | "client-certificate";
  /** GETs of a Deployment before all its replicas report ready. @default 2 */
  readyAfterPolls?: number;
  /** A failure the scoring pods show instead of becoming ready. */
  failure?: "ImagePullBackOff" | "CrashLoopBackOff" | "ProgressDeadlineExceeded" | "Unhealthy" | undefined;
  /** Where a LoadBalancer Service's `status.loadBalancer.ingress` points (ip and port). */
  loadBalancer?: { ip: string; port: number };
  /** Where an Ingress's `status.loadBalancer.ingress` points (what ingress-nginx publishes), and on what port. */
  ingress?: { ip: string; port: number };
  /** Indexed Jobs: indexes that fail, and how many completions each GET adds. @default [] and 2 */
  job?: { failIndexes?: number[]; completionsPerPoll?: number };
}

/** A running fake API server. */
export interface FakeKubeApi {
  /** `https://127.0.0.1:PORT`. */
  url: string;
  /** The kubeconfig file that reaches it (token user, the server's CA). */
  kubeconfig: string;
  /** The token in that kubeconfig. */
  token: string;
  /** Every request, in order. */
  requests: RecordedRequest[];
  /** The stored objects by API path. */
  objects: Map<string, Record<string, unknown>>;
  /** The behaviour, live: change it between calls (e.g. set `failure`). */
  options: FakeKubeOptions;
  close(): Promise<void>;
}

const GROUPS: Record<string, { kind: string; name: string; namespaced: boolean }[]> = {
  "/api/v1": [
    { kind: "Namespace", name: "namespaces", namespaced: false },
    { kind: "Secret", name: "secrets", namespaced: true },
    { kind: "Service", name: "services", namespaced: true },
    { kind: "ConfigMap", name: "configmaps", namespaced: true },
    { kind: "Pod", name: "pods", namespaced: true },
    { kind: "Event", name: "events", namespaced: true },
  ],
  "/apis/apps/v1": [{ kind: "Deployment", name: "deployments", namespaced: true }],
  "/apis/batch/v1": [{ kind: "Job", name: "jobs", namespaced: true }],
  "/apis/autoscaling/v2": [{
    kind: "HorizontalPodAutoscaler",
    name: "horizontalpodautoscalers",
    namespaced: true,
  }],
  "/apis/policy/v1": [{ kind: "PodDisruptionBudget", name: "poddisruptionbudgets", namespaced: true }],
  "/apis/networking.k8s.io/v1": [{ kind: "Ingress", name: "ingresses", namespaced: true }],
};

type Obj = Record<string, unknown> & {
  metadata: {
    name: string;
    namespace?: string | undefined;
    labels?: Record<string, string>;
    generation?: number;
    uid?: string;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

function status(code: number, reason: string, message: string): Response {
  return Response.json({ kind: "Status", apiVersion: "v1", status: "Failure", reason, message, code }, {
    status: code,
  });
}

function selects(selector: string | null, labels: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const [k = "", v] = term.split("=");
    return labels?.[k] === v;
  });
}

/** Writes a self-signed certificate for 127.0.0.1 with `openssl`. */
async function makeCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const out = await new Deno.Command("openssl", {
    args: [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1"],
      ...["-subj", "/CN=fake-kube-apiserver", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`openssl failed: ${new TextDecoder().decode(out.stderr)}`);
  return {
    cert: Deno.readTextFileSync(join(dir, "cert.pem")),
    key: Deno.readTextFileSync(join(dir, "key.pem")),
  };
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** A client CA and a client certificate (CN `cxr-user`) it signed, written into `dir`. */
export async function makeClientCertificate(
  dir: string,
  name = "client",
): Promise<{ ca: string; cert: string; key: string }> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const f = (ext: string) => join(dir, `${name}-${ext}`);
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.pem"),
    "-days",
    "1",
    "-subj",
    "/CN=fake-client-ca",
  ]);
  await openssl([
    "req",
    ...ec,
    "-keyout",
    f("key.pem"),
    "-out",
    f("csr.pem"),
    "-subj",
    "/CN=cxr-user/O=system:masters",
  ]);
  await openssl([
    ...["x509", "-req", "-in", f("csr.pem"), "-CA", f("ca.pem"), "-CAkey", f("ca.key"), "-CAcreateserial"],
    ...["-out", f("cert.pem"), "-days", "1"],
  ]);
  const read = (ext: string) => Deno.readTextFileSync(f(ext));
  return { ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") };
}

/**
 * Starts the fake API server in `dir` (certificate, key and `kubeconfig` are written there).
 */
export async function startFakeKubeApi(dir: string, options: FakeKubeOptions = {}): Promise<FakeKubeApi> {
  const token = options.token ?? "fake-token-0123456789abcdef";
  const { cert, key } = await makeCertificate(dir);
  const client = options.auth === "client-certificate" ? await makeClientCertificate(dir) : undefined;
  const requests: RecordedRequest[] = [];
  const objects = new Map<string, Obj>();
  const polls = new Map<string, number>();
  let generation = 0;

  const podsOf = (ns: string, selector: string | null): Obj[] => {
    const pods: Obj[] = [];
    for (const [path, d] of objects) {
      if (d.kind !== "Deployment" || d.metadata.namespace !== ns) continue;
      const tpl = (d.spec!.template as { metadata: { labels: Record<string, string> } }).metadata.labels;
      if (!selects(selector, tpl)) continue;
      const ready = (polls.get(path) ?? 0) >= (options.readyAfterPolls ?? 2) && !options.failure;
      const replicas = Number(d.spec!.replicas ?? 1);
      for (let i = 0; i < replicas; i++) {
        const waiting = options.failure === "ImagePullBackOff"
          ? { reason: "ImagePullBackOff", message: `Back-off pulling image "${imageOf(d)}"` }
          : options.failure === "CrashLoopBackOff"
          ? { reason: "CrashLoopBackOff", message: "back-off 40s restarting failed container=scoring" }
          : ready || options.failure === "Unhealthy"
          ? undefined
          : { reason: "ContainerCreating" };
        pods.push({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: `${d.metadata.name}-7f9c-${i}`, namespace: ns, labels: tpl },
          status: {
            phase: ready ? "Running" : "Pending",
            conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
            containerStatuses: [{
              name: "scoring",
              ready,
              restartCount: options.failure === "CrashLoopBackOff" ? 4 : 0,
              image: imageOf(d),
              state: waiting ? { waiting } : { running: { startedAt: new Date().toISOString() } },
              ...(options.failure === "CrashLoopBackOff"
                ? { lastState: { terminated: { exitCode: 1, reason: "Error" } } }
                : {}),
            }],
          },
        });
      }
    }
    return pods;
  };

  const withStatus = (path: string, o: Obj): Obj => {
    const n = (polls.get(path) ?? 0) + 1;
    polls.set(path, n);
    const out = structuredClone(o);
    if (o.kind === "Deployment") {
      const replicas = Number(o.spec!.replicas ?? 1);
      const ready = n >= (options.readyAfterPolls ?? 2) && !options.failure ? replicas : 0;
      const conditions = options.failure === "ProgressDeadlineExceeded"
        ? [{
          type: "Progressing",
          status: "False",
          reason: "ProgressDeadlineExceeded",
          message: `ReplicaSet "${o.metadata.name}-7f9c" has timed out progressing.`,
        }]
        : [{ type: "Progressing", status: "True", reason: "ReplicaSetUpdated" }];
      out.status = {
        observedGeneration: o.metadata.generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: ready,
        availableReplicas: ready,
        conditions,
      };
    } else if (o.kind === "Job") {
      const completions = Number(o.spec!.completions ?? 1);
      const fail = new Set((options.job?.failIndexes ?? []).filter((i) => i < completions));
      const done = Math.min(completions, n * (options.job?.completionsPerPoll ?? 2));
      const succeeded = [...Array(done).keys()].filter((i) => !fail.has(i));
      const failed = [...Array(done).keys()].filter((i) => fail.has(i));
      const finished = done === completions;
      out.status = {
        active: completions - done,
        succeeded: succeeded.length,
        failed: failed.length,
        completedIndexes: succeeded.join(","),
        ...(failed.length ? { failedIndexes: failed.join(",") } : {}),
        conditions: finished
          ? [
            failed.length
              ? { type: "Failed", status: "True", reason: "FailedIndexes", message: "Job has failed indexes" }
              : { type: "Complete", status: "True" },
          ]
          : [],
      };
    } else if (o.kind === "Ingress" && options.ingress) {
      const lb = options.ingress;
      out.status = {
        loadBalancer: { ingress: [{ ip: lb.ip, ports: [{ port: lb.port, protocol: "TCP" }] }] },
      };
    } else if (o.kind === "Service" && o.spec?.type === "LoadBalancer" && options.loadBalancer) {
      const lb = options.loadBalancer;
      out.status = {
        loadBalancer: { ingress: [{ ip: lb.ip, ports: [{ port: lb.port, protocol: "TCP" }] }] },
      };
    }
    return out;
  };

  const handle = async (req: Request, clientCertificate?: string): Promise<Response> => {
    const url = new URL(req.url);
    const body = await req.text();
    requests.push({
      method: req.method,
      path: url.pathname,
      query: url.search,
      contentType: req.headers.get("content-type"),
      authorization: req.headers.get("authorization"),
      ...(clientCertificate ? { clientCertificate } : {}),
      body,
    });
    const authorized = client
      ? clientCertificate === "cxr-user"
      : req.headers.get("authorization") === `Bearer ${token}`;
    if (!authorized) {
      return status(401, "Unauthorized", "Unauthorized");
    }
    const group = GROUPS[url.pathname];
    if (group && req.method === "GET") {
      return Response.json({
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: url.pathname.replace(/^\/apis?\//, ""),
        resources: group.map((r) => ({ ...r, singularName: "", verbs: ["get", "list", "patch", "delete"] })),
      });
    }
    const m = /^(\/api\/v1|\/apis\/[^/]+\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(
      url.pathname,
    );
    const nsPath = /^\/api\/v1\/namespaces(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m && !nsPath) return status(404, "NotFound", `the server could not find ${url.pathname}`);
    const [prefix, ns, plural, name] = nsPath ? ["/api/v1", undefined, "namespaces", nsPath[1]] : m!.slice(1);
    const kind = GROUPS[prefix]?.find((r) => r.name === plural)?.kind;
    if (!kind) return status(404, "NotFound", `the server could not find the requested resource (${plural})`);
    const path = url.pathname;
    if (!name) {
      if (req.method !== "GET") return status(405, "MethodNotAllowed", `${req.method} on a list`);
      const selector = url.searchParams.get("labelSelector");
      let items: Obj[];
      if (kind === "Pod") items = podsOf(ns!, selector);
      else if (kind === "Event") {
        items = options.failure === "Unhealthy"
          ? podsOf(ns!, null).map((p, i) => ({
            apiVersion: "v1",
            kind: "Event",
            metadata: { name: `${p.metadata.name}.unhealthy`, namespace: ns },
            involvedObject: { kind: "Pod", name: p.metadata.name, namespace: ns },
            reason: "Unhealthy",
            type: "Warning",
            count: 3 + i,
            message: "Readiness probe failed: HTTP probe failed with statuscode: 503",
            lastTimestamp: new Date().toISOString(),
          }))
          : [];
      } else {
        items = [...objects.entries()].filter(([p, o]) =>
          o.kind === kind && (ns === undefined || o.metadata.namespace === ns) &&
          selects(selector, o.metadata.labels) &&
          p.startsWith(path)
        ).map(([, o]) => o);
      }
      return Response.json({
        kind: `${kind}List`,
        apiVersion: prefix.replace(/^\/apis?\//, ""),
        metadata: {},
        items,
      });
    }
    if (req.method === "PATCH") {
      if (req.headers.get("content-type") !== "application/apply-patch+yaml") {
        return status(415, "UnsupportedMediaType", "only server-side apply is simulated");
      }
      if (url.searchParams.get("fieldManager") !== "cxr") {
        return status(422, "Invalid", "fieldManager missing");
      }
      const obj = parseYaml(body) as Obj;
      const old = objects.get(path);
      obj.metadata = { ...obj.metadata, namespace: ns, generation: ++generation, uid: crypto.randomUUID() };
      objects.set(path, obj);
      polls.delete(path);
      return Response.json(obj, { status: old ? 200 : 201 });
    }
    const obj = objects.get(path);
    if (!obj) return status(404, "NotFound", `${plural} "${name}" not found`);
    if (req.method === "GET") return Response.json(withStatus(path, obj));
    if (req.method === "DELETE") {
      objects.delete(path);
      return Response.json({
        kind: "Status",
        apiVersion: "v1",
        status: "Success",
        details: { name, kind: plural },
      });
    }
    return status(405, "MethodNotAllowed", req.method);
  };

  // node:https speaks HTTP/1.1 only, like most API server clients; Deno.serve would offer h2 too.
  const tls = client ? { ca: client.ca, requestCert: true, rejectUnauthorized: false } : {};
  const server = createServer({ cert, key, ...tls }, (req, res) => {
    // Deno's node:tls server does not verify client certificates against `ca` (it reports
    // UNABLE_TO_VERIFY_LEAF_SIGNATURE for a valid chain), so the fake checks the signature itself.
    const raw = client ? (req.socket as TLSSocket).getPeerCertificate()?.raw : undefined;
    const peer = raw ? new X509Certificate(raw) : undefined;
    const cn = peer?.verify(new X509Certificate(client!.ca).publicKey)
      ? /^CN=(.*)$/m.exec(peer.subject)?.[1]
      : undefined;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
      const hasBody = chunks.length > 0 && req.method !== "GET" && req.method !== "HEAD";
      const response = await handle(
        new Request(`https://127.0.0.1${req.url}`, {
          method: req.method ?? "GET",
          headers,
          ...(hasBody ? { body: Buffer.concat(chunks) } : {}),
        }),
        typeof cn === "string" ? cn : undefined,
      );
      const body = Buffer.from(await response.arrayBuffer());
      res.writeHead(response.status, { "content-type": "application/json", "content-length": body.length });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = join(dir, "kubeconfig");
  Deno.writeTextFileSync(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: fake",
      "  cluster:",
      `    server: ${url}`,
      `    certificate-authority-data: ${btoa(cert)}`,
      "users:",
      "- name: fake-user",
      "  user:",
      ...(client
        ? [
          `    client-certificate-data: ${btoa(client.cert)}`,
          `    client-key-data: ${btoa(client.key)}`,
        ]
        : [`    token: ${token}`]),
      "contexts:",
      "- name: fake",
      "  context: {cluster: fake, user: fake-user}",
      "current-context: fake",
      "",
    ].join("\n"),
  );
  return {
    url,
    kubeconfig,
    token,
    requests,
    objects: objects as Map<string, Record<string, unknown>>,
    options,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function imageOf(d: Obj): string {
  const spec = d.spec!.template as { spec: { containers: { image: string }[] } };
  const [container] = spec.spec.containers;
  if (!container) throw new Error(`${d.kind} ${d.metadata.name} has no containers`);
  return container.image;
}
