"""Marks the previous leaders' head nodes dead in this head's GCS (docs/design.md, decision 38).

    python previous-heads.py DEADLINE_S

Started by a candidate ahead of its term, with the interpreter of Ray's
console script (Ray's own gRPC stubs and channel settings: TLS and token
authentication as Ray's own clients use them): it imports Ray, then waits
for its input on stdin, sent by the leader once its new head runs:

    GCS_ADDRESS    this head's own GCS (host:port, never the Service in
                   front of it); its host is this head's node IP
    NODE_ID        this head's own node ID (its raylet's `--node_id`), a
                   second line, sent once the raylet runs

EOF before the first line (the candidate is gone, or needs no more) exits 0
doing nothing. After the first line, until DEADLINE_S seconds after it, the
helper asks that GCS for the nodes it holds ALIVE and unregisters, as Ray's
raylet unregisters itself on an unexpected exit ("UNEXPECTED_TERMINATION",
with a message that says why), every head node at another IP at once (it
cannot be this head's; only when GCS_ADDRESS's host is an IP), then, once the second line names this head's node,
every other head node at this IP (a head this host ran in an earlier term).
EOF instead of the second line leaves those.

Then, with this head's node ID, it starts this head's job manager: Ray builds
it only on the first job request that reaches the head's dashboard agent
(ray-project/ray#65037), and until then a job whose supervisor died with the
previous head stays RUNNING. Once the agent has registered its address in
the GCS, one read-only request for a job that does not exist builds it.

The helper marks nothing once the candidate that started it is gone (it
checks its parent before each change).

Why that is safe: a leader starts its head only after the previous term ended
and its head was stopped (released, or fenced by the lease: killed before the
lease could expire), and only one head runs at a time; so while this head's
GCS answers, every other head node it lists is a dead process that Ray's
health check has not yet given up on, and no other live head can exist.

Prints one JSON line: {"ownNodeId", "marked": [node IDs], "atMs"}, with
"error" when a node could not be marked (the others and the job manager still
go on), or {"error": "...", "marked": [...]} and exit 1 when the GCS was not
read (or the candidate is gone); exit 0 otherwise.
With a node ID, a second line: {"jobManager": true} or {"error": "..."}, with
"jobsOnHead": why a Ray Job submitted without resources may still run on
this head (decision 41: this Ray's job manager cannot be changed), or null.
"""
import ipaddress
import json
import os
import sys
import time

deadline_s = float(sys.argv[1])
# The candidate that started this helper. Once it is gone (this process re-parented), its term is
# over and nothing may be marked any more: the next leader may already serve at this address.
parent = os.getppid()

from ray._private.grpc_utils import init_grpc_channel  # noqa: E402 - Ray first, before the line is read
from ray.core.generated import common_pb2, gcs_pb2, gcs_service_pb2, gcs_service_pb2_grpc  # noqa: E402

REASON = (
    "ray-head-ha: this head's leader term ended (released, or fenced by its "
    "lease) before the next leader's head started; its processes are gone"
)


def out(obj, code):
    print(json.dumps(obj), flush=True)
    sys.exit(code)


first = sys.stdin.readline().split()
started = time.monotonic()
if len(first) != 1 or ":" not in first[0]:
    sys.exit(0)
gcs_address = first[0]
own_ip = gcs_address.rpartition(":")[0].strip("[]")
# The GCS may not accept yet: retry its address every 50-100 ms, not with gRPC's growing backoff.
channel = init_grpc_channel(
    gcs_address,
    options=[("grpc.initial_reconnect_backoff_ms", 50), ("grpc.min_reconnect_backoff_ms", 50), ("grpc.max_reconnect_backoff_ms", 100)],
)
stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
marked = []
mark_errors = []


def left():
    return deadline_s - (time.monotonic() - started)


def alive_heads():
    """The head nodes the GCS holds ALIVE; retried until it answers or the deadline passes."""
    last_error = None
    while left() > 0:
        try:
            reply = stub.GetAllNodeInfo(
                gcs_service_pb2.GetAllNodeInfoRequest(state_filter=gcs_pb2.GcsNodeInfo.ALIVE),
                timeout=min(2.0, left()),
            )
            return [n for n in reply.node_info_list if n.is_head_node and n.state == gcs_pb2.GcsNodeInfo.ALIVE]
        except Exception as e:  # noqa: BLE001 - not up yet: retried until the deadline
            last_error = describe(e)
            time.sleep(0.02)
    out({"error": "the GCS at %s did not answer: %s" % (gcs_address, last_error), "marked": marked}, 1)


def describe(e):
    """An exception in one line: its type and the first line of its message."""
    text = str(e).strip()
    return "%s: %s" % (type(e).__name__, text.splitlines()[0][:200] if text else "")


def mark_dead(node):
    if os.getppid() != parent:
        out({"error": "the candidate is gone; nothing more is marked", "marked": marked}, 1)
    try:
        stub.UnregisterNode(
            gcs_service_pb2.UnregisterNodeRequest(
                node_id=node.node_id,
                node_death_info=common_pb2.NodeDeathInfo(
                    reason=common_pb2.NodeDeathInfo.UNEXPECTED_TERMINATION, reason_message=REASON
                ),
            ),
            timeout=max(0.5, left()),
        )
        marked.append(node.node_id.hex())
    except Exception as e:  # noqa: BLE001 - reported; the other nodes and the job manager still go on
        mark_errors.append("%s: %s" % (node.node_id.hex(), describe(e)))


# 3. Ray Jobs the previous head left. Ray's job manager on the head (in its
#    dashboard agent) is what ends a job whose supervisor died, with the
#    previous head for one, and what times out a job stuck PENDING; but Ray
#    builds it only when the first job request reaches the agent
#    (ray-project/ray#65037), so after a failover such a job stays RUNNING
#    until somebody submits another. Once this head's agent has registered
#    its address, one read-only request for a job that does not exist builds it.
JOB_PROBE_ID = "ray-head-ha-start-job-manager"


def agent_http_address(own_hex):
    """host:port of this head's agent's HTTP server, as it registered it in the GCS; or an error."""
    from ray._private.ray_constants import KV_NAMESPACE_DASHBOARD
    from ray.dashboard.consts import DASHBOARD_AGENT_ADDR_NODE_ID_PREFIX

    kv = gcs_service_pb2_grpc.InternalKVGcsServiceStub(channel)
    key = (DASHBOARD_AGENT_ADDR_NODE_ID_PREFIX + own_hex).encode()
    last_error = "not registered"
    while left() > 0:
        try:
            reply = kv.InternalKVGet(
                gcs_service_pb2.InternalKVGetRequest(key=key, namespace=KV_NAMESPACE_DASHBOARD),
                timeout=min(2.0, left()),
            )
            if reply.value:
                ip, http_port = json.loads(reply.value)[:2]
                if int(http_port) <= 0:
                    return None, "this head's agent runs no HTTP server (Ray without its dashboard): no job manager"
                host = "[%s]" % ip if ":" in ip else ip
                return "%s:%d" % (host, int(http_port)), None
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_error = describe(e)
        time.sleep(0.2)
    return None, "this head's agent did not register its address: %s" % last_error


def start_job_manager(own_hex):
    """None once this head's job manager runs, or why it does not."""
    import urllib.error
    import urllib.request

    try:
        address, error = agent_http_address(own_hex)
    except ImportError as e:
        return "this Ray has no agent address to read: %s" % e
    if error:
        return error
    try:
        from ray._private.authentication.http_token_authentication import get_auth_headers_if_auth_enabled

        headers = get_auth_headers_if_auth_enabled({})
    except Exception as e:  # noqa: BLE001 - without Ray's token the agent may refuse: said below
        headers = {}
        token_error = describe(e)
    else:
        token_error = None
    url = "http://%s/api/job_agent/jobs/%s/logs" % (address, JOB_PROBE_ID)
    # Straight to this head's own agent: never through a proxy from the environment (with
    # token authentication, the request carries Ray's token).
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    last_error = None
    while left() > 0:
        if os.getppid() != parent:
            return "the candidate is gone"
        try:
            with opener.open(urllib.request.Request(url, headers=headers), timeout=min(5.0, max(0.5, left()))):
                return None  # a job by that name exists: the job manager ran to find it
        except urllib.error.HTTPError as e:
            try:
                body = e.read(2000).decode("utf-8", "replace").strip()
            except Exception:  # noqa: BLE001 - the status alone says enough
                body = ""
            if e.code == 404 and "does not exist" in body:
                return None  # the job manager ran to look for it
            last_error = "HTTP %d%s: %s" % (
                e.code,
                " (Ray's token authentication%s)" % (": " + token_error if token_error else "") if e.code in (401, 403) else "",
                body.splitlines()[-1][:200] if body else "",
            )
        except Exception as e:  # noqa: BLE001 - the agent may still be starting: retried until the deadline
            last_error = describe(e)
        time.sleep(0.5)
    return "this head's agent at %s did not start its job manager: %s" % (address, last_error)


def why_jobs_on_head():
    """None when this head keeps Ray Jobs submitted without resources off it (decision 41), or why not."""
    if os.environ.get("RAY_HA_HEAD_SITE") != "1":
        return None  # off by the operator's choice: the candidate said so at start
    try:
        import sitecustomize
        from ray.dashboard.modules.job import job_manager
    except ImportError as e:
        return "cannot import Ray's job manager: %s" % e
    check = getattr(sitecustomize, "why_not_patchable", None)
    if check is None:
        return "the head's sitecustomize is not ray-head-ha's (%s): PYTHONPATH lost scripts/head-site" % getattr(sitecustomize, "__file__", "?")
    return check(job_manager)


# 1. Heads at another IP: not this head's, whatever its node ID turns out to be
#    (only when this head's address is an IP, as its raylet registers it).
try:
    ipaddress.ip_address(own_ip)
    by_ip = True
except ValueError:
    by_ip = False
if by_ip:
    for node in alive_heads():
        if node.node_manager_address != own_ip:
            mark_dead(node)
# 2. Heads at this IP, once this head's own node ID is known.
own = sys.stdin.readline().strip()
if own:
    try:
        own_binary = bytes.fromhex(own)
    except ValueError:
        out({"error": "not a node ID: %r" % own[:80], "marked": marked}, 1)
    for node in alive_heads():
        if node.node_id != own_binary:
            mark_dead(node)
result = {"ownNodeId": own or None, "marked": marked, "atMs": int(time.time() * 1000)}
if mark_errors:
    result["error"] = "could not mark " + "; ".join(mark_errors)
print(json.dumps(result), flush=True)
# 3. This head's job manager (above), once its node ID is known, with a deadline of its own.
if own:
    started = time.monotonic()
    error = start_job_manager(own)
    print(json.dumps(dict({"error": error} if error else {"jobManager": True}, jobsOnHead=why_jobs_on_head())), flush=True)
sys.exit(0)
