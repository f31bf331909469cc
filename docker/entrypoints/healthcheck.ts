/**
 * The scoring image's HEALTHCHECK: exit 0 when `GET /healthz` on this container's port answers 200, 1 otherwise.
 * Deno does the request, so the image needs no curl. The port is `CXR_PORT` (default 8080).
 *
 * @module
 */
const port = Deno.env.get("CXR_PORT") ?? "8080";
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) });
  await res.body?.cancel();
  Deno.exit(res.ok ? 0 : 1);
} catch {
  Deno.exit(1);
}
