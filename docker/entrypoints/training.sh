#!/bin/sh
# Training container entrypoint:
#   jupyter     (default) Jupyter with Deno's kernel on 0.0.0.0:$CXR_JUPYTER_PORT, notebooks in /app/notebooks;
#               the token comes from JUPYTER_TOKEN at run time (never baked into the image).
#   gpu-smoke   prints the tfjs backend chosen and the devices it sees.
#   anything else runs the project's CLI (`train`, `preprocess`, `doctor`, ...).
set -eu
case "${1:-jupyter}" in
  jupyter)
    shift || true
    exec jupyter notebook --no-browser --ip=0.0.0.0 --port="${CXR_JUPYTER_PORT:-10003}" \
      --notebook-dir=/app/notebooks "$@"
    ;;
  gpu-smoke)
    shift
    exec deno run --allow-all --cached-only /app/docker/entrypoints/gpu_smoke.ts "$@"
    ;;
  *)
    exec /app/docker/entrypoints/cxr.sh "$@"
    ;;
esac
