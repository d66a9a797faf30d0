#!/usr/bin/env python3
"""Deploys a small Ray Serve app for the lab's campaign, then exits (Serve
apps outlive the driver that deployed them).

Usage: serve-app.py GCS_ADDRESS NODE_IP PORT

One replica, pinned to the worker (the `worker` resource); an HTTP proxy on
every node, on PORT, so the worker's own proxy serves it at
http://NODE_IP:PORT/. GET / answers "ok <replica pid>".
Prints one JSON line: {"deployed": true} or {"error": ...}; exit 1 on error.
"""
import json
import os
import sys

import ray
from ray import serve

gcs, node_ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])


# max_ongoing_requests: as deploy/kubernetes/serve.yaml, a burst queues at the replica instead of
# being rejected at Serve's default 5 and retried with backoff (which tipped into sustained timeouts
# at 50 requests a second on the lab Kubernetes).
@serve.deployment(num_replicas=1, max_ongoing_requests=100, ray_actor_options={"num_cpus": 0, "resources": {"worker": 0.01}})
class Hello:
    def __call__(self, request):
        return "ok %d" % os.getpid()


try:
    ray.init(address=gcs, namespace="rhha-serve", log_to_driver=False, _node_ip_address=node_ip)
    serve.start(http_options={"host": "0.0.0.0", "port": port, "location": "EveryNode"})
    serve.run(Hello.bind(), name="hello", route_prefix="/")
    print(json.dumps({"deployed": True}), flush=True)
except Exception as e:  # noqa: BLE001 - reported to the campaign as one line
    print(json.dumps({"error": "%s: %s" % (type(e).__name__, str(e)[:500])}), flush=True)
    sys.exit(1)
