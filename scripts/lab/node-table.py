#!/usr/bin/env python3
"""Watches Ray's node table through GCS_ADDRESS (the balancer) on a lab host.

Usage: node-table.py GCS_ADDRESS

Every 100 ms it asks the GCS for every node (Ray's own gRPC stub, 1 s
timeout) and prints one JSON line whenever the answer changes:
  {"at": epoch ms, "nodes": [{"id", "ip", "head", "state", "death"}, ...]}
or, when the GCS does not answer, {"at": epoch ms, "error": "..."} (once per
kind of error). It runs until stdin closes.
"""
import json
import select
import sys
import time

from ray._private.grpc_utils import init_grpc_channel
from ray.core.generated import gcs_pb2, gcs_service_pb2, gcs_service_pb2_grpc

gcs = sys.argv[1]
# gRPC's reconnect backoff grows to minutes while an address refuses (a standby's GCS
# address); polled every 100 ms, the table must be read as soon as a GCS answers there.
# A connection attempt to an address whose host is gone (no RST) can take gRPC's 20 s minimum
# connect timeout, so a failed read also replaces the channel: the next poll dials afresh.
FAST_RECONNECT = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 200)]


def new_stub():
    channel = init_grpc_channel(gcs, options=FAST_RECONNECT)
    return channel, gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)


channel, stub = new_stub()
last = None
print(json.dumps({"ready": True}), flush=True)
while True:
    r, _, _ = select.select([sys.stdin], [], [], 0)
    if r and sys.stdin.readline() == "":
        break
    try:
        reply = stub.GetAllNodeInfo(gcs_service_pb2.GetAllNodeInfoRequest(), timeout=1)
        now = sorted(
            (
                {
                    "id": n.node_id.hex(),
                    "ip": n.node_manager_address,
                    "head": n.is_head_node,
                    "state": gcs_pb2.GcsNodeInfo.GcsNodeState.Name(n.state),
                    "death": n.death_info.reason_message[:200],
                }
                for n in reply.node_info_list
            ),
            key=lambda n: n["id"],
        )
        line = {"nodes": now}
    except Exception as e:  # noqa: BLE001 - reported, then tried again
        line = {"error": type(e).__name__ + ": " + (str(e).splitlines()[0][:200] if str(e) else "")}
        channel.close()
        channel, stub = new_stub()
        if last and "error" in last and last["error"].split(":")[0] == line["error"].split(":")[0]:
            line = last
    if line != last:
        print(json.dumps(dict(line, at=int(time.time() * 1000))), flush=True)
        last = line
    time.sleep(0.1)
