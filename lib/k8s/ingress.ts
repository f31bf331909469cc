/**
 * The TLS entry of the scoring service on a cluster: the Ingress's address over HTTPS, and the check that the
 * TLS Secret an overlay names is there before anything is applied.
 *
 * @module
 */
import * as k8s from "@kubernetes/client-node";
import type { KubeClient } from "./client.ts";
import { kubeCall, kubeError } from "./_kube_error.ts";
import { K8sError } from "./errors.ts";
import type { ServiceAddress, ServiceAddressOptions } from "./rollout.ts";

/** Where an Ingress can be reached. */
export interface IngressAddress extends ServiceAddress {
  type: "Ingress";
  /** The IP address or host name the controller published, once it has. */
  loadBalancer?: string;
  /** The host name of the Ingress's rule (what clients must call, and what its certificate names). */
  host?: string;
}

/** Options of {@linkcode ingressAddress}: how long to wait for the controller to publish an address. */
export type IngressAddressOptions = ServiceAddressOptions;

/**
 * Reads an Ingress's address: `https://HOST` for its rule's host, waiting for the controller to publish its
 * load balancer, with a note to point the host's DNS record at it. Without a host rule the URL names the load
 * balancer.
 *
 * @throws {KubeApiError} when the Ingress cannot be read.
 * @example
 * ```ts ignore
 * const { url, note } = await ingressAddress(connectKube("aks.kubeconfig"), "cxr", "cxr-scoring");
 * ```
 */
export async function ingressAddress(
  client: KubeClient,
  namespace: string,
  name: string,
  options: IngressAddressOptions = {},
): Promise<IngressAddress> {
  const api = client.api(k8s.NetworkingV1Api);
  const timeoutSeconds = options.timeoutSeconds ?? 300;
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (true) {
    const ing = await kubeCall(
      client.server,
      `Reading Ingress "${namespace}/${name}"`,
      () => api.readNamespacedIngress({ name, namespace }),
    );
    const host = ing.spec?.rules?.find((r) => r.host)?.host;
    const backend = ing.spec?.rules?.[0]?.http?.paths?.[0]?.backend.service;
    const svcPort = backend?.port?.number ?? backend?.port?.name ?? 80;
    const clusterUrl = backend
      ? `http://${backend.name}.${namespace}.svc${typeof svcPort === "number" ? `:${svcPort}` : ""}`
      : `(no backend Service)`;
    const lb = ing.status?.loadBalancer?.ingress?.[0];
    const published = lb?.ip ?? lb?.hostname;
    if (published) {
      const port = lb?.ports?.[0]?.port;
      const target = host ?? (published.includes(":") ? `[${published}]` : published);
      const url = `https://${target}${port && port !== 443 ? `:${port}` : ""}`;
      const hint = host
        ? { host, note: `point the DNS name ${host} at ${published} (its certificate must name ${host})` }
        : {};
      return { type: "Ingress", url, clusterUrl, loadBalancer: published, ...hint };
    }
    if (Date.now() > deadline) {
      const note =
        `the Ingress has no address after ${timeoutSeconds} s: is an ingress controller for class ` +
        `"${ing.spec?.ingressClassName ?? "(default)"}" installed (ingress-nginx)?`;
      return { type: "Ingress", clusterUrl, ...(host ? { host } : {}), note };
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 2000));
  }
}

/** A TLS Secret that the manifests name is not in the cluster, and nothing would create it. */
export class MissingTlsSecretError extends K8sError {
  constructor(readonly secret: string, readonly namespace: string, options?: ErrorOptions) {
    super(
      `The TLS Secret "${namespace}/${secret}" is not in the cluster. Give the certificate and key to deploy ` +
        `(--tls-cert FILE --tls-key FILE), let cert-manager issue it (--cert-manager-issuer NAME, aks overlay), ` +
        `or create it first: kubectl create namespace ${namespace}; kubectl create secret tls ${secret} ` +
        `-n ${namespace} --cert=FILE --key=FILE`,
      options,
    );
  }
}

/**
 * Checks that a Secret exists (its content is neither read into a message nor returned).
 *
 * @throws {MissingTlsSecretError} when the API answers 404 (the Secret or its namespace is missing).
 * @throws {KubeApiError} for any other failure.
 * @example
 * ```ts ignore
 * await requireTlsSecret(connectKube("aks.kubeconfig"), "cxr", "cxr-scoring-tls");
 * ```
 */
export async function requireTlsSecret(client: KubeClient, namespace: string, name: string): Promise<void> {
  try {
    await client.api(k8s.CoreV1Api).readNamespacedSecret({ name, namespace });
  } catch (e) {
    if ((e as { code?: number }).code === 404) throw new MissingTlsSecretError(name, namespace, { cause: e });
    throw kubeError(`Reading Secret "${namespace}/${name}"`, client.server, e);
  }
}
