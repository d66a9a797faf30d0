# Pinned versions of everything the lab builds (sourced by the lab's scripts).
K8S_VERSION=v1.34.4
COREDNS_VERSION=v1.14.7
KUBERAY_VERSION=v1.5.0
K8S_BIN_KEY=k8s-$K8S_VERSION-coredns-$COREDNS_VERSION-kuberay-$KUBERAY_VERSION
RAY_VERSION=2.60.0
NODE_VERSION=22.23.5
RAY_IMAGE=docker.io/library/ray-head-ha:2.60.0
REDIS_IMAGE=docker.io/library/ray-head-ha-redis:7
PAUSE_IMAGE=registry.k8s.io/pause:3.10
