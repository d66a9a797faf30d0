#!/usr/bin/env bash
# Faults of the lab's second node (k8slab-n2, a network namespace):
#   node.sh partition   its link goes down; everything on it keeps running
#   node.sh heal        its link comes back
#   node.sh lose        power loss: the link goes down, then every process of
#                       the node is SIGKILLed (kubelet, kube-proxy, containerd,
#                       every container shim and every process in its pods'
#                       cgroups): no FIN, no graceful anything reaches anyone
#   node.sh revive      the node boots again: link up, containerd, kubelet and
#                       kube-proxy started with the commands up.sh used; the
#                       kubelet finds its pods dead and restarts them
# Node 1 is the machine itself (the control plane and Redis live there) and
# has no faults.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[[ -d $RUN ]] || { echo "[k8s-lab] no lab is up ($RUN does not exist)" >&2; exit 2; }

# Every process that belongs to node 2: its daemons, its shims, its pods.
node2_pids() {
  local f pid
  for f in kubelet-n2 kube-proxy-n2 containerd-n2; do
    [[ -f $PIDS/$f ]] && read -r pid _ <"$PIDS/$f" && [[ -e /proc/$pid ]] && echo "$pid"
  done
  shim_pids "$RUN/n2/"
  find /sys/fs/cgroup/*/k8slab-n2 /sys/fs/cgroup/k8slab-n2 -name cgroup.procs -exec cat {} + 2>/dev/null || true
}

# The link back up, and the machine's route to node 2's pods with it: the
# kernel drops every route through a link that goes down.
link_up() {
  ip link set $VETH_H up
  ip route replace $POD2 via $LINK_N
}

case ${1:-} in
  partition) ip link set $VETH_H down; say "node 2 partitioned (link down)" ;;
  heal) link_up; say "node 2 healed (link up, route to its pods back)" ;;
  lose)
    ip link set $VETH_H down
    # Freeze first, so no process of the node reacts to another's death.
    pids=$(node2_pids | sort -un)
    [[ -n $pids ]] && kill -STOP $pids 2>/dev/null || true
    # SIGKILL until none is left (a large process takes a moment to exit), at most 15 s.
    for _ in $(seq 1 50); do
      pids=$(node2_pids | sort -un)
      [[ -z $pids ]] && break
      kill -KILL $pids 2>/dev/null || true
      sleep 0.3
    done
    left=$(node2_pids | sort -un)
    [[ -z $left ]] || { echo "[k8s-lab] node 2 still has processes after SIGKILL: $left" >&2; exit 1; }
    for f in kubelet-n2 kube-proxy-n2 containerd-n2; do rm -f "$PIDS/$f"; done
    say "node 2 lost (link down, every process killed)"
    ;;
  revive)
    [[ -f $PIDS/kubelet-n2 ]] && { echo "[k8s-lab] node 2 is running: lose it first" >&2; exit 2; }
    link_up
    restart containerd-n2
    wait_for 30 "containerd on node 2" ctr_n 2 version
    restart kubelet-n2
    restart kube-proxy-n2
    say "node 2 revived (link up, containerd, kubelet, kube-proxy started)"
    ;;
  *) echo "usage: node.sh partition|heal|lose|revive" >&2; exit 2 ;;
esac
