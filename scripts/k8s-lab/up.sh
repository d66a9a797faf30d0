#!/usr/bin/env bash
# `npm run k8s:up`: a real two-node Kubernetes on this machine, from the
# binaries build-binaries.sh makes and the images build-image.sh makes.
#   etcd, kube-apiserver (on the machine's address), controller-manager,
#   scheduler; node k8slab-n1 = the machine, node k8slab-n2 = a network
#   namespace behind a veth; each node its own containerd, kubelet, kube-proxy
#   (iptables) and pod /24 on its own bridge; CoreDNS outside the cluster
#   behind the kube-dns Service; the KubeRay operator with its CRDs.
# Needs root, cgroup v1 or v2 with cgroupfs, and the Debian packages below.
# On any failure or signal it tears down what it made (down.sh).
# Prints `export KUBECONFIG=...` at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "[k8s-lab] must run as root" >&2; exit 2; }
for t in containerd containerd-shim-runc-v2 runc etcd ctr conntrack iptables nsenter openssl /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback; do
  command -v "$t" >/dev/null || { echo "[k8s-lab] $t is missing: apt-get install containerd runc etcd-server containernetworking-plugins conntrack iptables" >&2; exit 2; }
done
if [[ -e $RUN ]]; then echo "[k8s-lab] $RUN exists: a lab is up (or was not torn down): npm run k8s:down" >&2; exit 2; fi

t0=$(date +%s.%N)
bash "$here/build-binaries.sh"
images=$(bash "$here/build-image.sh" | tail -1)
[[ $images == IMAGES* ]] || { echo "[k8s-lab] image build failed" >&2; exit 1; }
t_built=$(date +%s.%N)

mkdir -p "$RUN" "$LOGS" "$PIDS"
# Who owns the lab: a test run names its process (K8S_LAB_OWNER_PID) so that
# the next run can tear the lab down if that process died; `manual` otherwise.
echo "${K8S_LAB_OWNER_PID:-manual}" >"$RUN/owner"
failed() { local rc=$?; trap - EXIT INT TERM; say "up failed (exit $rc): tearing down; logs were in $LOGS"; tail -n 5 "$LOGS"/*.log 2>/dev/null | tail -n 60 >&2 || true; bash "$here/down.sh" >&2 || true; exit $rc; }
trap failed EXIT
trap 'exit 130' INT TERM

IP=$(host_ip); [[ -n $IP ]] || { echo "[k8s-lab] no address on the machine's default interface" >&2; exit 2; }
echo "$IP" >"$RUN/host-ip"

# 1. Record what we change on the machine: sysctls, cgroup roots, netns list.
for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done >"$RUN/sysctls.before"
ip netns list | awk '{print $1}' >"$RUN/netns.before"
sysctl -qw net.ipv4.ip_forward=1
[[ $(sysctl -n net.bridge.bridge-nf-call-iptables 2>/dev/null) == 1 ]] || { echo "[k8s-lab] net.bridge.bridge-nf-call-iptables must be 1 (modprobe br_netfilter)" >&2; exit 2; }

# 2. Network: node 2's namespace, the veth, routes to each pod subnet.
ip netns add $NS2
ip link add $VETH_H type veth peer name $VETH_N
ip link set $VETH_N netns $NS2
ip addr add $LINK_H/30 dev $VETH_H; ip link set $VETH_H up
in_n2 ip addr add $LINK_N/30 dev $VETH_N; in_n2 ip link set $VETH_N up; in_n2 ip link set lo up
in_n2 ip route add default via $LINK_H
in_n2 sysctl -qw net.ipv4.ip_forward=1
ip route add $POD2 via $LINK_N

# 3. Cgroup roots, one per node, in every v1 hierarchy (so the kubelets never
#    share cgroups; on v2 one directory).
for n in 1 2; do
  for h in "${CGROUP_HIERARCHIES[@]}" unified; do
    d=/sys/fs/cgroup/$h; [[ -d $d ]] || continue
    [[ $h == unified && -d /sys/fs/cgroup/memory ]] && continue
    mkdir -p "$d/k8slab-n$n"
    if [[ $h == cpuset ]]; then cat "$d/cpuset.cpus" >"$d/k8slab-n$n/cpuset.cpus"; cat "$d/cpuset.mems" >"$d/k8slab-n$n/cpuset.mems"; fi
  done
done
[[ -f /sys/fs/cgroup/cgroup.controllers ]] && mkdir -p /sys/fs/cgroup/k8slab-n1 /sys/fs/cgroup/k8slab-n2

# 4. PKI and kubeconfigs.
source "$here/pki.sh"
make_pki "$IP"

# 5. etcd and the control plane.
start etcd 1 etcd --name k8slab --data-dir "$RUN/etcd" \
  --listen-client-urls http://127.0.0.1:$ETCD_PORT --advertise-client-urls http://127.0.0.1:$ETCD_PORT \
  --listen-peer-urls http://127.0.0.1:$ETCD_PEER --initial-advertise-peer-urls http://127.0.0.1:$ETCD_PEER \
  --initial-cluster k8slab=http://127.0.0.1:$ETCD_PEER --listen-metrics-urls= --log-level warn
start kube-apiserver 1 "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:$ETCD_PORT \
  --bind-address="$IP" --advertise-address="$IP" --secure-port=6443 \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-cluster-ip-range=$SVC_CIDR --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --allow-privileged=true --profiling=false --event-ttl=30m
wait_for 60 "the apiserver" kc get --raw /readyz
start kube-controller-manager 1 "$BIN/kube-controller-manager" --kubeconfig="$RUN/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$RUN/controller-manager.kubeconfig" --authorization-kubeconfig="$RUN/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --root-ca-file="$PKI/ca.crt" --service-account-private-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=$SVC_CIDR --cluster-cidr=$POD_CIDR --allocate-node-cidrs=false \
  --node-monitor-grace-period=${K8S_LAB_NODE_GRACE:-20s} --profiling=false
start kube-scheduler 1 "$BIN/kube-scheduler" --kubeconfig="$RUN/scheduler.kubeconfig" \
  --authentication-kubeconfig="$RUN/scheduler.kubeconfig" --authorization-kubeconfig="$RUN/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --leader-elect=false --profiling=false

# 6. The nodes: containerd, kubelet and kube-proxy each.
node_up() { # N NODE-NAME NODE-IP POD-SUBNET BRIDGE
  local n=$1 name=$2 nip=$3 sub=$4 br=$5 d=$RUN/n$1
  mkdir -p "$d/cni" "$d/containerd" "$d/kubelet"
  cat >"$d/cni/10-lab.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "k8slab", "plugins": [
  {"type": "bridge", "bridge": "$br", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$d/cni-ipam", "ranges": [[{"subnet": "$sub"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "loopback"}]}
CNI
  cat >"$d/containerd.toml" <<TOML
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"
TOML
  start containerd-n$n $n containerd --config "$d/containerd.toml"
  wait_for 30 "containerd on node $n" ctr_n $n version
  local img
  for img in $images; do
    [[ $img == IMAGES ]] && continue
    ctr_n $n images import "${img#*=}" >/dev/null
  done
  : >"$d/resolv.conf"
  cat >"$d/kubelet.yaml" <<KCFG
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $nip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $((10248 + 10 * (n - 1)))
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $PKI/ca.crt}}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
cgroupRoot: /k8slab-n$n
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$d/containerd.sock
clusterDNS: [$SVC_DNS]
clusterDomain: cluster.local
resolvConf: $d/resolv.conf
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
localStorageCapacityIsolation: false
maxPods: 30
podLogsDir: $d/pod-logs   # not /var/log/pods: each kubelet removes the logs of pods it does not know
KCFG
  # Every kubelet binds the same device-plugin socket, whatever its --root-dir
  # (/var/lib/kubelet/device-plugins/kubelet.sock): two that start at once can both
  # unlink it and then race to bind, and the loser exits ("Failed to start
  # ContainerManager ... address already in use"). Node 2's kubelet starts once
  # node 1's has bound it (a socket newer than node 1's start).
  local sock=/var/lib/kubelet/device-plugins/kubelet.sock
  if (( n == 2 )); then wait_for 120 "node 1's kubelet to bind $sock" test -f "$RUN/kubelet-n1-bound" || return 1; fi
  local since; since=$(date +%s)
  start kubelet-n$n $n "$BIN/kubelet" --config="$d/kubelet.yaml" --kubeconfig="$RUN/node$n.kubeconfig" \
    --root-dir="$d/kubelet" --node-ip="$nip" --hostname-override="$name" --cert-dir="$d/kubelet/pki"
  if (( n == 1 )); then
    wait_for 120 "node 1's kubelet to bind $sock" bash -c "[[ -S $sock && \$(stat -c %Y $sock) -ge $since ]]" || return 1
    : >"$RUN/kubelet-n1-bound"
  fi
  cat >"$d/kube-proxy.yaml" <<KP
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $RUN/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: $nip
hostnameOverride: $name
nodePortAddresses: ["$nip/32"]
healthzBindAddress: 127.0.0.1:$((10256 + 10 * (n - 1)))
metricsBindAddress: 127.0.0.1:$((10249 + 10 * (n - 1)))
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
KP
  start kube-proxy-n$n $n "$BIN/kube-proxy" --config="$d/kube-proxy.yaml"
}
node_up 1 $NODE1 "$IP" $POD1 $BR1 & p1=$!
node_up 2 $NODE2 $LINK_N $POD2 $BR2 & p2=$!
wait $p1; wait $p2
wait_for 90 "both nodes Ready" bash -c "[[ \$($BIN/kubectl --kubeconfig $KUBECONFIG get nodes --no-headers 2>/dev/null | grep -c ' Ready ') == 2 ]]"

# 7. DNS: CoreDNS outside the cluster on the machine's address, serving only
#    cluster names (no forward: no query leaves the lab).
cat >"$RUN/Corefile" <<CF
cluster.local:53 in-addr.arpa:53 {
  bind $IP
  errors
  kubernetes cluster.local in-addr.arpa {
    kubeconfig $KUBECONFIG lab
    pods insecure
  }
}
CF
start coredns 1 "$BIN/coredns" -conf "$RUN/Corefile"
kc apply -f - >/dev/null <<DNS
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $SVC_DNS
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kube-dns-lab, namespace: kube-system, labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: k8s-lab}}
addressType: IPv4
endpoints: [{addresses: ["$IP"], conditions: {ready: true}}]
ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
DNS

# 8. KubeRay: CRDs, then the operator outside the cluster.
kc apply --server-side -f "$BIN/kuberay-crds/" >/dev/null
wait_for 30 "the RayCluster CRD" kc get rayclusters -A
start ray-operator 1 "$BIN/ray-operator" -kubeconfig "$KUBECONFIG" -enable-leader-election=false \
  -metrics-addr 127.0.0.1:18080 -health-probe-bind-address 127.0.0.1:18081
wait_for 60 "the KubeRay operator" curl -sf http://127.0.0.1:18081/readyz
wait_for 60 "the default ServiceAccount" kc get serviceaccount default

trap - EXIT INT TERM
t1=$(date +%s.%N)
say "up: build/cache $(printf %.1f "$(echo "$t_built - $t0" | bc)") s, cluster $(printf %.1f "$(echo "$t1 - $t_built" | bc)") s"
echo "export KUBECONFIG=$KUBECONFIG"
