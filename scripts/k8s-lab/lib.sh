# Shared paths, addresses and helpers of the Kubernetes lab (sourced).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/versions.sh"
CACHE=${K8S_LAB_CACHE:-/var/cache/ray-head-ha-k8s}
BIN=$CACHE/bin/$K8S_BIN_KEY
RUN=${K8S_LAB_RUN:-/var/lib/ray-head-ha-k8s}
PKI=$RUN/pki
LOGS=$RUN/logs
PIDS=$RUN/pids
export KUBECONFIG=$RUN/admin.kubeconfig

# Names every object the lab makes on the machine start with `k8slab`.
NS2=k8slab-n2                 # node 2's network namespace
VETH_H=k8slab-v2h VETH_N=k8slab-v2n
BR1=k8slab-br1 BR2=k8slab-br2 # each node's pod bridge
NODE1=k8slab-n1 NODE2=k8slab-n2
LINK_NET=10.243.0.0/30 LINK_H=10.243.0.1 LINK_N=10.243.0.2
POD_CIDR=10.244.0.0/16 POD1=10.244.1.0/24 POD2=10.244.2.0/24
SVC_CIDR=10.96.0.0/16 SVC_API=10.96.0.1 SVC_DNS=10.96.0.10
ETCD_PORT=23790 ETCD_PEER=23800
CGROUP_HIERARCHIES=(blkio cpu cpuacct cpuset devices freezer memory pids systemd hugetlb net_cls net_prio perf_event rdma)
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward)

host_ip() { ip -4 route get 192.0.2.255 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -1; }
say() { echo "[k8s-lab $(date +%T)] $*"; }
in_n2() { nsenter --net=/var/run/netns/$NS2 "$@"; }

# start NAME NETNS(1|2) CMD...: a daemon in its own session, log and pid under
# $RUN; its command is kept in $RUN/cmd/NAME so node.sh can start it again.
start() {
  local name=$1 node=$2; shift 2
  mkdir -p "$RUN/cmd"; printf '%q ' "$node" "$@" >"$RUN/cmd/$name"
  if [[ $node == 2 ]]; then
    setsid nsenter --net=/var/run/netns/$NS2 "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  else
    setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  fi
  echo "$! $1" >"$PIDS/$name"
}

# restart NAME: start a daemon again with the command start() recorded.
restart() {
  local name=$1 words
  eval "words=($(cat "$RUN/cmd/$name"))"
  start "$name" "${words[@]}"
}

# shim_pids PATH-PREFIX: containerd shims whose command line names a socket under it.
shim_pids() {
  local p cmd
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
    [[ $cmd == *containerd-shim* && $cmd == *"$1"* ]] && echo "${p#/proc/}"
  done
  return 0
}

# wait_for SECONDS WHAT CMD...: polls CMD every 0.5 s.
wait_for() {
  local t=$1 what=$2; shift 2
  local end=$(( $(date +%s) + t ))
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) > end )); then say "timed out after ${t}s waiting for $what"; return 1; fi
    sleep 0.5
  done
}
kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
ctr_n() { local n=$1; shift; ctr --connect-timeout 1s --address "$RUN/n$n/containerd.sock" -n k8s.io "$@"; }
