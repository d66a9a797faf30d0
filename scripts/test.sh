#!/usr/bin/env bash
# The whole test suite (`npm test`): installs redis-server and the Ray venv
# when missing, builds the TypeScript and the native part, runs vitest
# (unit, integration with real Redis and real processes, e2e on real Ray).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --ray --lab --k8s
echo "[test] building (tsc + cmake-js)"
npm run --silent build
echo "[test] typechecking src and tests"
npm run --silent typecheck
echo "[test] running vitest"
exec npx vitest run "$@"
