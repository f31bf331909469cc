#!/usr/bin/env bash
# Idempotent: the services the Docker tests and notebook 02 need, on a fresh Debian machine (as root or with sudo):
#   1. Debian's docker.io, debootstrap, docker-registry and tini (installed when missing);
#   2. a Docker engine: an existing one that answers (CXR_DOCKER_HOST, DOCKER_HOST, /var/run/docker.sock) is used
#      as is; otherwise dockerd is started on unix:///run/cxr-docker/docker.sock with the flags that work in
#      containers without iptables (no bridge: containers use --network host);
#   3. a registry on 127.0.0.1:5000 (Debian's docker-registry, storage under /var/lib/cxr-registry), standing in
#      for Azure Container Registry;
#   4. the local base image cxr-local/bookworm:base (debootstrap --variant=minbase + docker import, ~60 s, once),
#      since no base image can be pulled here.
# Source it and call cxr_services (exports CXR_DOCKER_HOST and CXR_REGISTRY), or run it directly (prints them).
# CXR_SERVICES=0 skips it all (for machines where Docker is not wanted: the Docker tests then fail, not skip).
CXR_SERVICES_DIR=${CXR_SERVICES_DIR:-/run/cxr-docker}
CXR_REGISTRY_ADDR=${CXR_REGISTRY_ADDR:-127.0.0.1:5000}
CXR_BASE_IMAGE=${CXR_BASE_IMAGE:-cxr-local/bookworm:base}
CXR_DEBIAN_MIRROR=${CXR_DEBIAN_MIRROR:-http://deb.debian.org/debian}

_svc_log() { [ "${CXR_SETUP_QUIET:-0}" = 1 ] || echo "[services] $*" >&2; }
_svc_sudo() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Answers 0 when the engine at unix socket $1 responds to /_ping.
_svc_ping() {
  [ -S "$1" ] || return 1
  curl -fsS --max-time 3 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1 ||
    _svc_sudo curl -fsS --max-time 3 --unix-socket "$1" http://localhost/_ping >/dev/null 2>&1
}

cxr_services_packages() {
  local missing=() p
  for p in docker.io debootstrap docker-registry tini curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  _svc_log "installing Debian packages: ${missing[*]}"
  _svc_sudo apt-get update -qq >&2
  _svc_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

cxr_services_engine() {
  local candidate sock
  for candidate in "${CXR_DOCKER_HOST:-}" "${DOCKER_HOST:-}" "unix:///var/run/docker.sock" \
    "unix://$CXR_SERVICES_DIR/docker.sock"; do
    sock=${candidate#unix://}
    [ -n "$candidate" ] && [ "$candidate" != "$sock" ] || continue
    if _svc_ping "$sock"; then
      export CXR_DOCKER_HOST="unix://$sock"
      _svc_log "Docker engine answers at $CXR_DOCKER_HOST"
      return 0
    fi
  done
  sock="$CXR_SERVICES_DIR/docker.sock"
  _svc_log "starting dockerd on unix://$sock (log: $CXR_SERVICES_DIR/dockerd.log)"
  _svc_sudo mkdir -p "$CXR_SERVICES_DIR"
  _svc_sudo rm -f "$sock"
  # setsid + nohup: the engine outlives this shell (tests and other sessions share it).
  _svc_sudo setsid nohup dockerd --iptables=false --ip6tables=false --bridge=none --storage-driver=overlay2 \
    --data-root=/var/lib/cxr-docker --exec-root="$CXR_SERVICES_DIR/exec" --pidfile="$CXR_SERVICES_DIR/dockerd.pid" \
    -H "unix://$sock" >"$CXR_SERVICES_DIR/dockerd.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 60); do
    if _svc_ping "$sock"; then
      [ "$(id -u)" = 0 ] || _svc_sudo chmod 666 "$sock"
      export CXR_DOCKER_HOST="unix://$sock"
      return 0
    fi
    sleep 0.5
  done
  echo "[services] dockerd did not answer on $sock within 30 s; last log lines:" >&2
  tail -20 "$CXR_SERVICES_DIR/dockerd.log" >&2
  return 1
}

cxr_services_registry() {
  export CXR_REGISTRY="$CXR_REGISTRY_ADDR"
  if curl -fsS --max-time 3 "http://$CXR_REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
    _svc_log "registry answers at $CXR_REGISTRY_ADDR"
    return 0
  fi
  _svc_sudo mkdir -p "$CXR_SERVICES_DIR" /var/lib/cxr-registry
  _svc_sudo tee "$CXR_SERVICES_DIR/registry.yml" >/dev/null <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/cxr-registry
  delete:
    enabled: true
http:
  addr: $CXR_REGISTRY_ADDR
EOF
  _svc_log "starting docker-registry on $CXR_REGISTRY_ADDR"
  _svc_sudo setsid nohup docker-registry serve "$CXR_SERVICES_DIR/registry.yml" \
    >"$CXR_SERVICES_DIR/registry.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 40); do
    curl -fsS --max-time 2 "http://$CXR_REGISTRY_ADDR/v2/" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  echo "[services] docker-registry did not answer on $CXR_REGISTRY_ADDR; last log lines:" >&2
  tail -20 "$CXR_SERVICES_DIR/registry.log" >&2
  return 1
}

cxr_services_base() {
  local docker=(docker -H "$CXR_DOCKER_HOST")
  [ -w "${CXR_DOCKER_HOST#unix://}" ] || docker=(_svc_sudo docker -H "$CXR_DOCKER_HOST")
  if "${docker[@]}" image inspect "$CXR_BASE_IMAGE" >/dev/null 2>&1; then
    _svc_log "base image $CXR_BASE_IMAGE present"
    return 0
  fi
  local root
  root=$(mktemp -d /tmp/cxr-base.XXXXXX)
  _svc_log "building $CXR_BASE_IMAGE with debootstrap from $CXR_DEBIAN_MIRROR (about a minute)"
  # tini reaps zombies and forwards signals as PID 1; ca-certificates for HTTPS to Azure from the images.
  if ! _svc_sudo debootstrap --variant=minbase --include=ca-certificates,tini bookworm "$root" "$CXR_DEBIAN_MIRROR" \
    >"$root.log" 2>&1; then
    echo "[services] debootstrap failed; last log lines:" >&2
    tail -20 "$root.log" >&2
    _svc_sudo rm -rf "$root"
    return 1
  fi
  _svc_sudo rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc \
    "$root"/usr/share/man "$root"/usr/share/locale
  _svc_sudo tar -C "$root" -c . | "${docker[@]}" import --change 'CMD ["bash"]' - "$CXR_BASE_IMAGE" >/dev/null
  _svc_sudo rm -rf "$root" "$root.log"
  _svc_log "built $CXR_BASE_IMAGE"
}

cxr_services() {
  [ "${CXR_SERVICES:-1}" = 0 ] && return 0
  cxr_services_packages && cxr_services_engine && cxr_services_registry && cxr_services_base
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cxr_services
  echo "export CXR_DOCKER_HOST=$CXR_DOCKER_HOST CXR_REGISTRY=$CXR_REGISTRY"
fi
