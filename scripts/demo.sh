#!/usr/bin/env bash
# The main job (`npm run demo`): installs redis-server when missing, builds,
# then starts a local cluster (Redis + 3 head candidates with stand-in heads)
# and walks through a hard crash, a graceful handover and a head crash.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f dist/cli.js ] || npm run --silent build
exec node scripts/local-cluster.mjs --demo "$@"
