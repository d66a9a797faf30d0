#!/usr/bin/env bash
# Builds the lab's Kubernetes binaries from the Go module proxy, cached under
# $K8S_LAB_CACHE (default /var/cache/ray-head-ha-k8s), never in the repository:
#   kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl
#   kube-proxy (k8s.io/kubernetes@v1.34.4 through a wrapper module), CoreDNS,
#   the KubeRay operator and its CRDs, and the pause binary for the sandbox image.
# A second run with the same versions does nothing. Builds run under nice -n 19.
set -euo pipefail
source "$(dirname "$0")/versions.sh"

CACHE=${K8S_LAB_CACHE:-/var/cache/ray-head-ha-k8s}
BIN=$CACHE/bin/$K8S_BIN_KEY
export GOMODCACHE=$CACHE/go/mod GOCACHE=$CACHE/go/build GOFLAGS=-mod=mod GOTOOLCHAIN=local
export GOPROXY=${GOPROXY:-https://proxy.golang.org} GONOSUMDB= CGO_ENABLED=1

if [[ -f $BIN/.complete ]]; then
  echo "[k8s-lab] binaries cached in $BIN"
  exit 0
fi
command -v go >/dev/null || { echo "[k8s-lab] go is not installed (need Go >= 1.24 for Kubernetes $K8S_VERSION)" >&2; exit 2; }
mkdir -p "$BIN" "$CACHE/work"
started=$(date +%s)

# 1. Kubernetes: the module zip has no staging/, so a wrapper module pins every
#    staging module (a `=> ./staging/...` replace in kubernetes' go.mod) to its
#    published v0.x release.
wrap=$CACHE/work/k8s-wrapper-$K8S_VERSION
rm -rf "$wrap"; mkdir -p "$wrap"; cd "$wrap"
go mod init lab.local/k8s-wrapper >/dev/null 2>&1
gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
kdir=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
[[ -f $gomod && -d $kdir ]] || { echo "[k8s-lab] could not download k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
staging_ver=v0.${K8S_VERSION#v1.}
grep -oE '^\s*k8s\.io/[a-z0-9.-]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
  echo "replace $m => $m $staging_ver" >>go.mod
done
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy)
for c in "${cmds[@]}"; do nice -n 19 go get "k8s.io/kubernetes/cmd/$c@$K8S_VERSION" >/dev/null; done
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
for c in "${cmds[@]}"; do
  echo "[k8s-lab] building $c $K8S_VERSION"
  nice -n 19 go build -trimpath -ldflags "$ld" -o "$BIN/$c" "k8s.io/kubernetes/cmd/$c"
done

# 2. pause: the sandbox image's only binary, from the same module.
nice -n 19 gcc -Os -static -o "$BIN/pause" "$kdir/build/pause/linux/pause.c" -DVERSION=lab
strip "$BIN/pause"

# 3. CoreDNS and the KubeRay operator (no replace directives: go install works).
echo "[k8s-lab] building coredns $COREDNS_VERSION"
GOBIN=$BIN nice -n 19 go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
echo "[k8s-lab] building kuberay ray-operator $KUBERAY_VERSION"
GOBIN=$BIN nice -n 19 go install -trimpath -ldflags "-s -w" "github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION"
kr=$(go mod download -json "github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
mkdir -p "$BIN/kuberay-crds"
cp "$kr"/config/crd/bases/*.yaml "$BIN/kuberay-crds/"
chmod -R u+w "$BIN/kuberay-crds"

touch "$BIN/.complete"
echo "[k8s-lab] binaries built in $(( $(date +%s) - started )) s: $BIN"
