#!/usr/bin/env bash
# Builds binding.gyp with node-gyp, offline: node-gyp gets --nodedir pointing
# at the headers of the Node that runs it (<prefix>/include/node), so it never
# downloads a tarball. Outputs build/Release/{ray_head_ha.node,ray-head-ha-keeper,ray-head-ha-keeper-test}.
# Test against it: RAY_HEAD_HA_NATIVE_DIR=build/Release npx vitest run test/integration/native-addon.test.ts test/integration/keeper.test.ts
# NODEDIR=... overrides the guess (a dir with include/node/node_api.h).
set -euo pipefail
cd "$(dirname "$0")/.."
nodedir="${NODEDIR:-$(node -p 'require("path").resolve(process.execPath, "..", "..")')}"
if [ ! -f "$nodedir/include/node/node_api.h" ] || [ ! -f "$nodedir/include/node/common.gypi" ]; then
  echo "build-gyp: no Node headers in $nodedir/include/node (set NODEDIR to the prefix that has include/node)" >&2
  exit 2
fi
# configure + build, not rebuild: rebuild starts with `clean`, which deletes all
# of build/, including the cmake-js output in build/native.
exec npx --no-install node-gyp configure build --nodedir="$nodedir" -j "$(nproc)" "$@"
