# Scoring image: the CPU scoring service (`cxr serve`) with the model bundle baked in at /model, or mounted there.
# Built by lib/docker/images.ts (`deno task cxr image build scoring`), whose build context holds: deno (the Deno
# binary), deno.json, deno.lock, lib/, docker/entrypoints/, the node_modules the CLI needs (Linux x64 only: sharp's
# libvips and onnxruntime-node's native library included) and model/ (empty when the bundle is to be mounted).
# Runs with no network: every npm package is in node_modules and Deno runs with --cached-only.
# BASE: Debian 12.11 slim (a pinned point-release tag); tests pass a local debootstrap base instead (no registry reachable).
ARG BASE=debian:12.11-slim
FROM ${BASE}

ARG CXR_UID=10001
RUN useradd --system --uid "${CXR_UID}" --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin cxr

ENV DENO_DIR=/tmp/deno-cache \
    DENO_NO_UPDATE_CHECK=1 \
    NO_COLOR=1 \
    CXR_PORT=8080
WORKDIR /app
COPY deno /usr/local/bin/deno
COPY node_modules /app/node_modules
COPY deno.json deno.lock /app/
COPY lib /app/lib
COPY docker/entrypoints /app/docker/entrypoints
COPY model /model

USER ${CXR_UID}:${CXR_UID}
EXPOSE 8080
# Deno itself does the HTTP check (no curl in the image); it reads CXR_PORT, so a container started on another
# port (docker run --network host -e CXR_PORT=N ... serve --port N) is still checked where it listens.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["deno", "run", "--quiet", "--cached-only", "--allow-net=127.0.0.1", "--allow-env=CXR_PORT", "/app/docker/entrypoints/healthcheck.ts"]
ENTRYPOINT ["/app/docker/entrypoints/cxr.sh"]
CMD ["serve", "--model", "/model", "--host", "0.0.0.0", "--port", "8080"]
