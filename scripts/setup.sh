#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine. Source it and call cxr_setup, or run it directly.
# Installs: Deno (from the npm package `deno`, since only the npm registry may be reachable), the Debian packages
# below, the Deno Jupyter kernel, and for test/report/demo the Docker services (scripts/services.sh). Each step is
# skipped when already done. Set CXR_SETUP_QUIET=1 to hush.
#
# Run directly as `bash scripts/setup.sh [TASK]` to set up for one ./run task (test, bench, demo, ...).
# tests/setup_deps_test.ts checks that every program and Python module the tests, the demo and the benches start
# is named in one of these lists (or in scripts/services.sh): add a package here when you add such a program.
CXR_DENO_VERSION=${CXR_DENO_VERSION:-2.9.6}
CXR_TOOLS=${CXR_TOOLS:-$HOME/.local/share/cxr-tools}
# Every task: what the toolkit itself starts.
CXR_APT_PACKAGES=(
  # Jupyter with Deno's kernel: /usr/bin/jupyter, and the modules the notebook runner imports (lib/report)
  jupyter-core jupyter-notebook jupyter-nbconvert jupyter-client python3-ipykernel
  python3 python3-nbclient python3-nbconvert python3-nbformat python3-notebook python3-jupyter-client
  # git: image tags carry the commit; ss from iproute2: the doctor names what holds a busy port
  git iproute2
)
# `./run test` only: what tests start beyond the toolkit.
CXR_TEST_APT_PACKAGES=(
  # /usr/bin/chromium for the upload page test, with the fonts its screenshot renders
  chromium fonts-liberation
  # openssl: the fake Kubernetes API's certificate; scikit-learn: the AUROC reference; pydicom: real DICOM files
  openssl python3-sklearn python3-pydicom
)
# `./run bench` only: what the benches compare against (Python preprocessing and PyTorch, the HTTP load).
CXR_BENCH_APT_PACKAGES=(python3-opencv python3-pil python3-numpy python3-torch python3-torchvision wrk)

_cxr_log() { [ "${CXR_SETUP_QUIET:-0}" = 1 ] || echo "[setup] $*" >&2; }

_cxr_sudo() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

cxr_ensure_deno() {
  local bin="$CXR_TOOLS/deno-$CXR_DENO_VERSION/node_modules/.bin"
  if [ -x "$bin/deno" ]; then
    export PATH="$bin:$PATH"
    return 0
  fi
  if command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | head -1 | grep -q "^deno $CXR_DENO_VERSION"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { echo "[setup] npm is needed to install Deno: apt-get install nodejs npm" >&2; return 1; }
  _cxr_log "installing Deno $CXR_DENO_VERSION from npm into $CXR_TOOLS"
  mkdir -p "$CXR_TOOLS/deno-$CXR_DENO_VERSION"
  # Its own package.json, outside the repository, so Deno never mistakes it for project config.
  [ -f "$CXR_TOOLS/deno-$CXR_DENO_VERSION/package.json" ] || echo '{"private":true}' >"$CXR_TOOLS/deno-$CXR_DENO_VERSION/package.json"
  (cd "$CXR_TOOLS/deno-$CXR_DENO_VERSION" && npm install --no-audit --no-fund --loglevel=error "deno@$CXR_DENO_VERSION" >&2)
  export PATH="$bin:$PATH"
  deno --version >/dev/null
}

cxr_ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  _cxr_log "installing Debian packages: ${missing[*]}"
  _cxr_sudo apt-get update -qq >&2
  _cxr_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

cxr_ensure_kernel() {
  if [ -x "$(dirname "${BASH_SOURCE[0]}")/install_kernel.sh" ]; then
    bash "$(dirname "${BASH_SOURCE[0]}")/install_kernel.sh" >&2
  fi
}

# The task ./run was asked for (a sourced script sees its caller's arguments): `test`, `report` and `demo` need the
# Docker engine, registry and local base image (scripts/services.sh), `test` and `bench` their own packages, the
# other tasks neither.
_CXR_RUN_TASK=${1:-}

# The Debian packages the task needs, one a line.
cxr_task_packages() {
  printf '%s\n' "${CXR_APT_PACKAGES[@]}"
  case "$_CXR_RUN_TASK" in
  test) printf '%s\n' "${CXR_TEST_APT_PACKAGES[@]}" ;;
  bench) printf '%s\n' "${CXR_BENCH_APT_PACKAGES[@]}" ;;
  esac
}

cxr_ensure_services() {
  case "$_CXR_RUN_TASK" in test | report | demo) ;; *) return 0 ;; esac
  # shellcheck source=scripts/services.sh
  source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
  cxr_services || _cxr_log "warning: Docker services did not start (see above); the Docker tests will fail"
}

cxr_setup() {
  # Trust the operating system's certificate store (it holds any corporate or proxy CA), not only Deno's
  # built-in Mozilla roots: package downloads through such a proxy fail otherwise.
  export DENO_TLS_CA_STORE=${DENO_TLS_CA_STORE:-system}
  cxr_ensure_deno
  local packages
  mapfile -t packages < <(cxr_task_packages)
  cxr_ensure_apt "${packages[@]}"
  cxr_ensure_kernel
  cxr_ensure_services
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cxr_setup
  _cxr_log "ready: $(deno --version | head -1)"
fi
