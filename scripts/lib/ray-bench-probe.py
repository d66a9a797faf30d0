#!/usr/bin/env python3
"""The driver side of scripts/bench-ray.mjs: a fresh Ray driver that talks to
the detached actor `counter`, with Ray already imported before the fault, so
the seconds measured are Ray's and not Python's start-up.

Usage: ray-bench-probe.py GCS_ADDRESS create|incr DEADLINE_S WORKER_TEMP_DIR

create: makes the detached actor on the node with the `worker` resource and
        prints one JSON line.
incr:   prints {"ready": true}, waits for one line on stdin (the fault has
        happened), then retries (TCP connect, ray.init, get_actor, incr) until
        it answers or DEADLINE_S passes. Prints one JSON line with epoch-ms
        times: go, tcpAt (first attempt whose TCP connect to the GCS worked),
        initAt / actorAt / answerAt of the attempt that succeeded, attempts,
        value, lastError, errorsAfterTcp (the first few failures once the GCS
        port answered).
WORKER_TEMP_DIR pins the driver to the worker node, so it never depends on
which head is up.
"""
import json
import os
import socket
import sys
import threading
import time

import ray

gcs, mode, deadline_s, temp_dir = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
host, _, port = gcs.rpartition(":")
now_ms = lambda: int(time.time() * 1000)  # noqa: E731 - epoch ms, the bench's clock too


@ray.remote(num_cpus=0, resources={"worker": 0.01})
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n


out = {"attempts": 0, "lastError": None}


def emit_and_exit(code):
    print(json.dumps(out), flush=True)
    os._exit(code)


def give_up():
    # ray.init can block far past the deadline while the GCS is half up.
    time.sleep(deadline_s)
    out["error"] = "deadline"
    emit_and_exit(1)


if mode == "incr":
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
out["go"] = now_ms()
threading.Thread(target=give_up, daemon=True).start()
while True:
    out["attempts"] += 1
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
        out.setdefault("tcpAt", now_ms())
        ray.init(address=gcs, namespace="rhha-bench", log_to_driver=False, _temp_dir=temp_dir)
        out["initAt"] = now_ms()
        if mode == "create":
            c = Counter.options(name="counter", lifetime="detached").remote()
        else:
            c = ray.get_actor("counter")
        out["actorAt"] = now_ms()
        out["value"] = ray.get(c.incr.remote(), timeout=10)
        out["answerAt"] = now_ms()
        emit_and_exit(0)
    except Exception as e:  # noqa: BLE001 - any failure is retried until the deadline
        out["lastError"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        if "tcpAt" in out:
            # What a driver meets between the GCS port opening and the answer.
            errs = out.setdefault("errorsAfterTcp", [])
            if len(errs) < 5:
                errs.append({"at": now_ms(), "error": out["lastError"][:300]})
        try:
            ray.shutdown()
        except Exception:
            pass
        time.sleep(0.2)
