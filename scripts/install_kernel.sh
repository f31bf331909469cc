#!/usr/bin/env bash
# Idempotent: makes sure Debian's Jupyter packages are installed and Deno's Jupyter kernel is registered.
# Each step is skipped when already done; a registered kernel whose deno binary is gone is re-registered.
# Called by scripts/setup.sh (./run) and CI; safe to run by hand. Needs `deno` on PATH.
set -euo pipefail
packages=(jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel jupyter-client)
log() { [ "${CXR_SETUP_QUIET:-0}" = 1 ] || echo "[install_kernel] $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Debian's jupyter, never a pyenv/venv one that lacks the packages.
jupyter=/usr/bin/jupyter
[ -x "$jupyter" ] || jupyter=$(command -v jupyter)
command -v deno >/dev/null 2>&1 || { echo "[install_kernel] deno is not on PATH" >&2; exit 1; }

spec_dir=$("$jupyter" kernelspec list 2>/dev/null | awk '$1 == "deno" { print $2 }')
if [ -n "$spec_dir" ] && [ -f "$spec_dir/kernel.json" ]; then
  # The kernelspec records an absolute deno path; re-register if that binary has gone away.
  kernel_deno=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["argv"][0])' "$spec_dir/kernel.json")
  if [ -x "$kernel_deno" ]; then
    log "Deno kernel already registered ($spec_dir)"
    exit 0
  fi
  log "Deno kernel at $spec_dir points at a missing deno ($kernel_deno): re-registering"
  deno jupyter --install --force >&2
else
  log "registering the Deno Jupyter kernel"
  deno jupyter --install >&2
fi
"$jupyter" kernelspec list 2>/dev/null | awk '$1 == "deno"' | grep -q deno || {
  echo "[install_kernel] deno jupyter --install ran but the kernel is not listed" >&2
  exit 1
}
