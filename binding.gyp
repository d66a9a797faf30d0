# node-gyp build of the same sources as native/CMakeLists.txt (cmake-js).
# Outputs build/Release/ray_head_ha.node, build/Release/ray-head-ha-keeper and
# their test builds build/Release/ray_head_ha_test.node (RHHA_ADDON_TEST_EXPORTS)
# and build/Release/ray-head-ha-keeper-test (RHHA_KEEPER_TEST_HOOKS);
# point RAY_HEAD_HA_NATIVE_DIR at build/Release to use them.
# Offline: scripts/build-gyp.sh passes --nodedir at the installed Node headers.
{
  "targets": [
    {
      "target_name": "ray_head_ha",
      "sources": ["native/src/addon.cc", "native/src/proc_tree.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden"]
    },
    {
      "target_name": "ray_head_ha_test",
      "sources": ["native/src/addon.cc", "native/src/proc_tree.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "RHHA_ADDON_TEST_EXPORTS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fvisibility=hidden"]
    },
    {
      "target_name": "ray-head-ha-keeper",
      "type": "executable",
      "sources": ["native/src/keeper.cc", "native/src/keeper_protocol.cc", "native/src/proc_tree.cc", "native/src/signal_proc.cc"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17"]
    },
    {
      "target_name": "ray-head-ha-keeper-test",
      "type": "executable",
      "sources": ["native/src/keeper.cc", "native/src/keeper_protocol.cc", "native/src/proc_tree.cc", "native/src/signal_proc.cc"],
      "defines": ["RHHA_KEEPER_TEST_HOOKS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17"]
    }
  ]
}
