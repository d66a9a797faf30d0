#!/usr/bin/env bash
# Installs what the demo and the tests need and are not npm packages:
#   - redis-server and redis-sentinel (Debian packages; apt-get when missing and we are root)
#   - with --lab: haproxy, iptables and iproute2 for the multi-host lab (scripts/lab/; root only)
#   - with --ray: a Python venv in .venv with the pinned ray[default,serve] (for the real-Ray tests)
#   - with --k8s: what the Kubernetes lab (scripts/k8s-lab/) runs on: containerd, runc, etcd, CNI
#     plugins, conntrack, and the image tools debootstrap, umoci, skopeo (root only); Go must be
#     installed (the lab builds Kubernetes, CoreDNS and KubeRay from the Go module proxy)
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

RAY_VERSION="2.60.0"
WANT_RAY=0
WANT_LAB=0
WANT_K8S=0
for arg in "$@"; do
  case "$arg" in
    --ray) WANT_RAY=1 ;;
    --lab) WANT_LAB=1 ;;
    --k8s) WANT_K8S=1 ;;
    *) echo "[setup] unknown option $arg (known: --ray --lab --k8s)" >&2; exit 2 ;;
  esac
done

say() { printf '[setup] %s\n' "$*"; }

# apt_install PKG... : installs the Debian packages whose commands are missing (root only).
APT_UPDATED=0
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "[setup] missing: $* (Debian: apt-get install $*); run again as root or install them" >&2
    exit 1
  fi
  if [ "$APT_UPDATED" = 0 ]; then apt-get update -qq; APT_UPDATED=1; fi
  say "installing $* with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v redis-server >/dev/null || ! command -v redis-sentinel >/dev/null; then
  apt_install redis-server redis-sentinel
fi
say "redis: $(redis-server --version | cut -d' ' -f3)"

if [ "$WANT_LAB" = 1 ]; then
  missing=()
  command -v haproxy >/dev/null || missing+=(haproxy)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v unshare >/dev/null || missing+=(util-linux)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
  say "lab: $(haproxy -v | head -1 | cut -d' ' -f1-3), $(iptables --version)"
fi

if [ "$WANT_K8S" = 1 ]; then
  missing=()
  for pair in containerd:containerd runc:runc etcd:etcd-server conntrack:conntrack iptables:iptables \
      nsenter:util-linux debootstrap:debootstrap umoci:umoci skopeo:skopeo openssl:openssl bc:bc curl:curl; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] || missing+=(containernetworking-plugins)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
  if ! command -v go >/dev/null; then
    echo "[setup] go is missing: the Kubernetes lab builds its binaries with Go >= 1.24 (https://go.dev/doc/install)" >&2
    exit 1
  fi
  say "k8s: $(containerd --version | cut -d' ' -f3), $(etcd --version | head -1), $(go version | cut -d' ' -f3)"
fi

if [ "$WANT_RAY" = 1 ]; then
  if [ ! -x .venv/bin/ray ] || ! .venv/bin/python -c "import ray, ray.serve, sys; sys.exit(ray.__version__ != '$RAY_VERSION')" 2>/dev/null; then
    say "creating .venv with ray[default,serve]==$RAY_VERSION (a few minutes the first time)"
    python3 -m venv .venv
    .venv/bin/pip install -q "ray[default,serve]==$RAY_VERSION"
  fi
  say "ray: $(.venv/bin/python -c 'import ray; print(ray.__version__)') in .venv"
fi
