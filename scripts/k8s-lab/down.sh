#!/usr/bin/env bash
# `npm run k8s:down`: tears the lab down and leaves nothing behind: no
# process, mount, network namespace, bridge, veth, cgroup, iptables chain or
# changed sysctl. Safe to run on a half-built lab, and twice. Exit 1 when
# something could not be removed (it says what).
set -uo pipefail
source "$(dirname "$0")/lib.sh"
[[ -d $RUN ]] || { say "nothing to tear down ($RUN does not exist)"; exit 0; }
t0=$(date +%s.%N)
problems=0

# stop NAME: the daemon recorded in $PIDS/NAME, if it is still that program.
stop() {
  local f=$PIDS/$1 pid exe
  [[ -f $f ]] || return 0
  read -r pid exe <"$f"
  if [[ -r /proc/$pid/cmdline ]] && [[ $(tr '\0' '\n' </proc/$pid/cmdline | head -1) == "$exe" ]]; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 ${2:-50}); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
    [[ -e /proc/$pid ]] && { kill -KILL "$pid" 2>/dev/null; sleep 0.2; }
  fi
  rm -f "$f"
}

# 1. The operator first (it recreates pods), then the workloads through the
#    API while the kubelets still run, so pods are torn down properly.
stop ray-operator
if kc get --raw /readyz --request-timeout=2s >/dev/null 2>&1; then
  for rc in $(kc get rayclusters -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' 2>/dev/null); do
    kc -n "${rc%/*}" patch raycluster "${rc#*/}" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1
  done
  kc delete rayclusters,statefulsets,deployments,replicasets,jobs,daemonsets --all -A --wait=false --request-timeout=5s >/dev/null 2>&1
  kc delete pods --all -A --grace-period=0 --force --request-timeout=5s >/dev/null 2>&1
  for n in 1 2; do
    for _ in $(seq 1 40); do
      [[ -z $(ctr_n $n tasks list -q 2>/dev/null) ]] && break; sleep 0.25
    done
  done
fi

# 2. Node daemons, then whatever containers are left, then containerd and
#    any shim of ours (found by our socket path on its command line).
for n in 1 2; do stop kubelet-n$n; stop kube-proxy-n$n; done
stop coredns; stop kube-scheduler; stop kube-controller-manager
for n in 1 2; do
  if [[ -S $RUN/n$n/containerd.sock ]]; then
    for t in $(ctr_n $n tasks list -q 2>/dev/null); do ctr_n $n tasks kill -s SIGKILL "$t" >/dev/null 2>&1; done
    sleep 0.3
    for t in $(ctr_n $n tasks list -q 2>/dev/null); do ctr_n $n tasks delete -f "$t" >/dev/null 2>&1; done
    for c in $(ctr_n $n containers list -q 2>/dev/null); do ctr_n $n containers delete "$c" >/dev/null 2>&1; done
  fi
  stop containerd-n$n 100
done
for p in $(shim_pids "$RUN/n"); do kill -KILL "$p" 2>/dev/null; done
stop kube-apiserver; stop etcd

# 3. Mounts under the run directory and the pod network namespaces that
#    appeared while the lab was up (deepest first, lazily).
for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  if [[ $n == cni-* ]] && ! grep -qx "$n" "$RUN/netns.before" 2>/dev/null; then ip netns delete "$n" 2>/dev/null; fi
done
grep -F " $RUN" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done

# The kubelets' symlinks to their pods' logs (the link directory is fixed).
for l in /var/log/containers/*.log; do
  [[ -L $l && $(readlink "$l") == "$RUN"/* ]] && rm -f "$l"
done

# 4. Network: node 2's namespace (its bridge and veth end go with it), the
#    machine's bridge, veth and route; kube-proxy's and the kubelet's chains.
ip netns delete $NS2 2>/dev/null
ip link delete $VETH_H 2>/dev/null
ip link delete $BR1 2>/dev/null
for ipt in iptables ip6tables; do
  for table in filter nat mangle; do
    rules=$($ipt -t $table -S 2>/dev/null) || continue
    # rules in built-in chains that jump to a KUBE-* chain, then the chains
    echo "$rules" | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j KUBE-' | while read -r r; do
      eval "$ipt -t $table ${r/-A /-D }" 2>/dev/null
    done
    for c in $(echo "$rules" | sed -n 's/^-N \(KUBE-[^ ]*\)/\1/p'); do $ipt -t $table -F "$c" 2>/dev/null; done
    for c in $(echo "$rules" | sed -n 's/^-N \(KUBE-[^ ]*\)/\1/p'); do $ipt -t $table -X "$c" 2>/dev/null; done
  done
done

# 5. Cgroups (deepest first; any process left in them is a leak: say so).
for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  for root in "$h"k8slab-n1 "$h"k8slab-n2; do
    [[ -d $root ]] || continue
    left=$(find "$root" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    if [[ -n $left ]]; then say "processes left in $root: $left (killed)"; kill -KILL $left 2>/dev/null; sleep 0.3; problems=1; fi
    find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
done

# 6. Sysctls as they were.
if [[ -f $RUN/sysctls.before ]]; then
  while IFS== read -r k v; do [[ -n $k ]] && sysctl -qw "$k=$v"; done <"$RUN/sysctls.before"
fi

# 7. Check, then remove the run directory.
leaks=()
grep -qF " $RUN" /proc/self/mountinfo && leaks+=("mounts under $RUN")
ip netns list 2>/dev/null | grep -q "^$NS2\b" && leaks+=("netns $NS2")
for l in /var/log/containers/*.log; do [[ -L $l && $(readlink "$l") == "$RUN"/* ]] && leaks+=("log link $l"); done
ip link show $BR1 >/dev/null 2>&1 && leaks+=("bridge $BR1")
ip link show $VETH_H >/dev/null 2>&1 && leaks+=("veth $VETH_H")
iptables-save 2>/dev/null | grep -q 'KUBE-' && leaks+=("iptables KUBE-* rules")
ls -d /sys/fs/cgroup/*/k8slab-n* /sys/fs/cgroup/k8slab-n* >/dev/null 2>&1 && leaks+=("cgroups k8slab-n*")
for p in /proc/[0-9]*; do
  cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
  [[ $cmd == *"$RUN"* ]] && leaks+=("process ${p#/proc/}: ${cmd:0:80}")
done
if [[ -f $RUN/sysctls.before ]]; then
  while IFS== read -r k v; do [[ -n $k && $(sysctl -n "$k") != "$v" ]] && leaks+=("sysctl $k"); done <"$RUN/sysctls.before"
fi
if (( ${#leaks[@]} )); then
  say "teardown left: ${leaks[*]} (run dir kept: $RUN)"; exit 1
fi
rm -rf --one-file-system "$RUN"
say "down in $(printf %.1f "$(echo "$(date +%s.%N) - $t0" | bc)") s, nothing left behind"
exit $problems
