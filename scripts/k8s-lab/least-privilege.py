"""What a process in a candidate pod can do, run there by the k8s e2e test
(`kubectl exec ... python3 - MODE NAMESPACE POD < this file`). Prints one JSON
line. Every Kubernetes write it tries is a dry run (?dryRun=All: admission
runs, nothing is stored), so a hole it finds harms nothing.

  head     in the candidate's container (where Ray jobs run): every token it
           can find, and none (anonymous), tries to patch the Redis pod and
           to label its own pod leader; with Ray's Redis credentials it
           tries to delete, overwrite and script the lease, and FLUSHALL.
  labeler  in the role-labeler sidecar, with its token: the changes the
           ValidatingAdmissionPolicy refuses (another pod, another label, a
           pod's image) and the one it allows (its own role label).
"""
import glob
import json
import os
import socket
import ssl
import sys
import urllib.error
import urllib.request

mode, namespace, pod = sys.argv[1], sys.argv[2], sys.argv[3]
api = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def patch(token, name, body, kind="application/merge-patch+json"):
    """PATCH a pod (dry run); returns the HTTP status and the API's message."""
    url = f"{api}/api/v1/namespaces/{namespace}/pods/{name}?dryRun=All"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PATCH")
    req.add_header("content-type", kind)
    if token:
        req.add_header("authorization", f"Bearer {token}")
    ctx = ssl.create_default_context(cafile=f"{SA}/ca.crt") if os.path.exists(f"{SA}/ca.crt") else ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return {"status": r.status, "message": ""}
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read()).get("message", "")
        except Exception:
            message = ""
        return {"status": e.code, "message": message[:300]}


def tokens():
    """Every token file a process here can read, and the anonymous caller (None)."""
    found = {}
    for pattern in ("/var/run/secrets/**/token", "/run/secrets/**/token", "/var/run/secrets/**/*token*"):
        for f in glob.glob(pattern, recursive=True):
            try:
                found[f] = open(f).read().strip()
            except OSError:
                pass
    return found


def resp(sock, *args):
    """One Redis command in RESP; returns the reply's first line."""
    out = f"*{len(args)}\r\n".encode()
    for a in args:
        b = str(a).encode()
        out += b"$" + str(len(b)).encode() + b"\r\n" + b + b"\r\n"
    sock.sendall(out)
    line = b""
    while not line.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    reply = line.decode().strip()
    if reply.startswith("$") and reply != "$-1":  # a bulk string: read its body too
        n = int(reply[1:])
        body = b""
        while len(body) < n + 2:
            body += sock.recv(n + 2 - len(body))
        reply = "+" + body[:-2].decode(errors="replace")
    return reply


if mode == "head":
    found = tokens()
    result = {"token_files": sorted(found), "k8s": {}}
    for who, token in [("anonymous", None)] + sorted(found.items()):
        result["k8s"][who] = {
            "label redis-0": patch(token, "redis-0", {"metadata": {"labels": {"e2e-hijack": "x"}}}),
            "image of redis-0": patch(token, "redis-0", [{"op": "replace", "path": "/spec/containers/0/image", "value": "evil:1"}], "application/json-patch+json"),
            "own pod leader": patch(token, pod, {"metadata": {"labels": {"ray-head-ha/role": "leader"}}}),
        }
    lease = "ray-head-ha:{" + namespace + "}:lease"
    s = socket.create_connection(("redis", 6379), timeout=10)
    result["redis"] = {
        "auth": resp(s, "AUTH", os.environ["REDIS_PASSWORD"]),  # Ray's user: Redis's default
        "ray's own key": resp(s, "EXISTS", f"RAY{namespace}@KV"),
        "del lease": resp(s, "DEL", lease),
        "set lease": resp(s, "SET", lease, "forged"),
        "pexpire lease": resp(s, "PEXPIRE", lease, "1"),
        "eval del lease": resp(s, "EVAL", "return redis.call('del', KEYS[1])", "1", lease),
        "flushall": resp(s, "FLUSHALL"),
        "acl setuser": resp(s, "ACL", "SETUSER", "ray", "~*"),
        "config set": resp(s, "CONFIG", "SET", "requirepass", "x"),
    }
    s.close()
elif mode == "labeler":
    token = open(f"{SA}/token").read().strip()
    labels = json.load(urllib.request.urlopen(urllib.request.Request(
        f"{api}/api/v1/namespaces/{namespace}/pods/{pod}", headers={"authorization": f"Bearer {token}"}),
        context=ssl.create_default_context(cafile=f"{SA}/ca.crt"), timeout=10))["metadata"]["labels"]
    result = {
        "label redis-0": patch(token, "redis-0", {"metadata": {"labels": {"e2e-hijack": "x"}}}),
        "role label of redis-0": patch(token, "redis-0", {"metadata": {"labels": {"ray-head-ha/role": "leader"}}}),
        "another label of own pod": patch(token, pod, {"metadata": {"labels": {"e2e-hijack": "x"}}}),
        "own cluster label": patch(token, pod, {"metadata": {"labels": {"ray-head-ha/cluster": "other"}}}),
        "own role label to a third value": patch(token, pod, {"metadata": {"labels": {"ray-head-ha/role": "boss"}}}),
        "image of own pod": patch(token, pod, [{"op": "replace", "path": "/spec/containers/0/image", "value": "evil:1"}], "application/json-patch+json"),
        "annotation of own pod": patch(token, pod, {"metadata": {"annotations": {"e2e-hijack": "x"}}}),
        "own role label, unchanged": patch(token, pod, {"metadata": {"labels": {"ray-head-ha/role": labels.get("ray-head-ha/role", "standby")}}}),
    }
else:
    raise SystemExit(f"unknown mode {mode}")
print(json.dumps(result))
