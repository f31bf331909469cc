# Training image: Deno, the project, Jupyter with Deno's kernel and (by default) @tensorflow/tfjs-node-gpu 4.22.0,
# whose libtensorflow 2.9.1 needs CUDA 11.2 and cuDNN 8.1: hence the CUDA base. Starts Jupyter as a non-root user
# on CXR_JUPYTER_PORT (default 10003) with the data and output folders as volumes; `gpu-smoke` prints the tfjs
# backend and the devices. Built by lib/docker/images.ts (`deno task cxr image build training`).
# BASE and TFJS_NODE_GPU are build arguments so tests can build from a local Debian base with tfjs-node-gpu left
# out (neither the CUDA base nor libtensorflow can be downloaded there).
# ONNX_CUDA=1 (`cxr image build training --onnx-cuda`) fetches ONNX Runtime's CUDA 12 provider for `train --gpus`
# instead; lib/docker/images.ts then passes a CUDA 12 + cuDNN 9 base (nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04)
# and TFJS_NODE_GPU=0, as the two GPU stacks need different CUDA majors.
ARG BASE=nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04
FROM ${BASE}

ARG TFJS_NODE_GPU=1
ARG JUPYTER_PORT=10003
ARG CXR_UID=10001

# Jupyter from the distribution (Ubuntu 20.04 and Debian 12 both name the packages so), no Python venv.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates tini jupyter-notebook jupyter-nbconvert python3-ipykernel jupyter-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid "${CXR_UID}" --user-group --create-home --home-dir /home/cxr --shell /bin/bash cxr \
 && mkdir -p /data /output \
 && chown cxr:cxr /data /output

ENV DENO_DIR=/home/cxr/.cache/deno \
    DENO_NO_UPDATE_CHECK=1 \
    CXR_JUPYTER_PORT=${JUPYTER_PORT} \
    CXR_DATA_DIR=/data \
    CXR_OUTPUT_DIR=/output
WORKDIR /app
# The project is root-owned and read-only to the user; notebooks, data (-> /data) and .work are writable.
COPY deno /usr/local/bin/deno
COPY node_modules /app/node_modules
COPY deno.json deno.lock /app/
COPY lib /app/lib
COPY docker/entrypoints /app/docker/entrypoints
COPY --chown=cxr:cxr notebooks /app/notebooks
RUN ln -s /data /app/data \
 && install -d -o cxr -g cxr /app/.work /app/reports

# tfjs-node-gpu: the context's copy was set up without its install script (Deno skips scripts by default), so it
# is set up again here with the script allowed, which downloads libtensorflow 2.9.1 (GPU) and the native addon
# from storage.googleapis.com; the build fails if either is missing afterwards.
RUN if [ "${TFJS_NODE_GPU}" = 1 ]; then \
      rm -rf node_modules/.deno/@tensorflow+tfjs-node-gpu@4.22.0 node_modules/.deno/.setup-cache.bin \
      && DENO_DIR=/tmp/deno-install deno install --frozen --allow-scripts=npm:@tensorflow/tfjs-node-gpu@4.22.0 \
        --entrypoint docker/entrypoints/tfjs_node_gpu.ts \
      && find node_modules/.deno/@tensorflow+tfjs-node-gpu@4.22.0 -name 'libtensorflow.so*' | grep -q . \
      && find node_modules/.deno/@tensorflow+tfjs-node-gpu@4.22.0 -name 'tfjs_binding.node' | grep -q . \
      && rm -rf /tmp/deno-install; \
    fi

# ONNX Runtime's CUDA provider: onnxruntime-node's install script (skipped by Deno by default) fetches
# libonnxruntime_providers_cuda.so and _shared.so from NuGet (Microsoft.ML.OnnxRuntime.Gpu.Linux); the build fails,
# saying so, if they are missing afterwards. Declared here so that the layers above are shared with the plain image.
ARG ONNX_CUDA=0
RUN if [ "${ONNX_CUDA}" = 1 ] && [ "${TFJS_NODE_GPU}" = 1 ]; then \
      echo "ONNX_CUDA=1 needs TFJS_NODE_GPU=0: ONNX Runtime's provider wants CUDA 12, tfjs-node-gpu CUDA 11.2" >&2; \
      exit 1; \
    fi \
 && if [ "${ONNX_CUDA}" = 1 ]; then \
      rm -rf node_modules/.deno/onnxruntime-node@1.30.0 node_modules/.deno/.setup-cache.bin \
      && ( ONNXRUNTIME_NODE_INSTALL=cuda12 DENO_DIR=/tmp/deno-install deno install --frozen \
             --allow-scripts=npm:onnxruntime-node@1.30.0 --entrypoint docker/entrypoints/onnxruntime_cuda.ts \
           || { echo "could not fetch ONNX Runtime's CUDA provider from NuGet (api.nuget.org)" >&2; exit 1; } ) \
      && for f in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do \
           test -f "node_modules/.deno/onnxruntime-node@1.30.0/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/$f" \
             || { echo "onnxruntime-node's install left no $f beside its binding" >&2; exit 1; }; \
         done \
      && rm -rf /tmp/deno-install; \
    fi

USER cxr
RUN deno jupyter --install

VOLUME ["/data", "/output"]
EXPOSE ${JUPYTER_PORT}
ENTRYPOINT ["tini", "--", "/app/docker/entrypoints/training.sh"]
CMD ["jupyter"]
