# Certificates and kubeconfigs of the lab (sourced by up.sh): one CA, the
# apiserver's serving certificate, a client certificate per component.
mkcert() { # NAME CN [O] [SANS]
  local name=$1 cn=$2 o=${3:-} sans=${4:-}
  local subj="/CN=$cn"; [[ -n $o ]] && subj="/O=$o$subj"
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  local ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth,serverAuth"
  [[ -n $sans ]] && ext+=$'\n'"subjectAltName=$sans"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 2 -sha256 -extfile <(echo "$ext") -out "$PKI/$name.crt" 2>/dev/null
}
mkkubeconfig() { # NAME USER-CERT SERVER
  local name=$1 cert=$2 server=$3
  cat >"$RUN/$name.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {certificate-authority: $PKI/ca.crt, server: "$server"}
users:
- name: $cert
  user: {client-certificate: $PKI/$cert.crt, client-key: $PKI/$cert.key}
contexts:
- name: lab
  context: {cluster: lab, user: $cert}
current-context: lab
KC
}
make_pki() {
  local ip=$1 server="https://$1:6443"
  mkdir -p "$PKI"
  openssl genrsa -out "$PKI/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=k8slab-ca" -days 2 -sha256 -out "$PKI/ca.crt" 2>/dev/null
  mkcert apiserver kube-apiserver "" "IP:$ip,IP:127.0.0.1,IP:$SVC_API,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  mkcert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  mkcert admin k8slab-admin system:masters
  mkcert controller-manager system:kube-controller-manager
  mkcert scheduler system:kube-scheduler
  mkcert kube-proxy system:kube-proxy
  mkcert node1 "system:node:$NODE1" system:nodes
  mkcert node2 "system:node:$NODE2" system:nodes
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  mkkubeconfig admin admin "$server"
  mkkubeconfig controller-manager controller-manager "$server"
  mkkubeconfig scheduler scheduler "$server"
  mkkubeconfig kube-proxy kube-proxy "$server"
  mkkubeconfig node1 node1 "$server"
  mkkubeconfig node2 node2 "$server"
}
