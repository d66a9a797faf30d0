#!/usr/bin/env bash
# Installs what the demo and the tests need and are not npm packages:
#   - redis-server and redis-sentinel (Debian packages; apt-get when missing and we are root)
#   - with --ray: a Python venv in .venv with the pinned ray[default] (for the real-Ray tests)
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

RAY_VERSION="2.60.0"

say() { printf '[setup] %s\n' "$*"; }

if ! command -v redis-server >/dev/null || ! command -v redis-sentinel >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing redis-server and redis-sentinel with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-sentinel >/dev/null
  else
    echo "[setup] redis-server is missing: install it (Debian: apt-get install redis-server redis-sentinel) and run again" >&2
    exit 1
  fi
fi
say "redis: $(redis-server --version | cut -d' ' -f3)"

if [ "${1:-}" = "--ray" ]; then
  if [ ! -x .venv/bin/ray ] || ! .venv/bin/python -c "import ray,sys; sys.exit(ray.__version__ != '$RAY_VERSION')" 2>/dev/null; then
    say "creating .venv with ray[default]==$RAY_VERSION (a few minutes the first time)"
    python3 -m venv .venv
    .venv/bin/pip install -q "ray[default]==$RAY_VERSION"
  fi
  say "ray: $(.venv/bin/python -c 'import ray; print(ray.__version__)') in .venv"
fi
