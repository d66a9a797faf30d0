#!/usr/bin/env python3
"""A Ray driver on a lab host that talks to the detached actor `counter`.

Usage: actor-probe.py GCS_ADDRESS create|incr|watch|tasks|workers DEADLINE_S NODE_IP [--wait-go] [--workers=N]

GCS_ADDRESS is the balancer's (the address that follows the leader); NODE_IP
the lab host the driver runs on (it has a worker raylet: the driver joins it).
Ray is imported before anything is timed.

create: makes the detached actor on the node with the `worker` resource.
incr:   one fresh driver: retries (TCP connect, ray.init, get_actor, incr)
        until it answers or DEADLINE_S passes. With --wait-go it first prints
        {"ready": true} and waits for one line on stdin (the fault happened).
watch:  a driver that stays connected: prints {"ready": true}, then calls
        incr every 50 ms until stdin closes or DEADLINE_S passes; each call
        has a 1 s timeout; a failed call is retried (get_actor again).
tasks:  a driver that stays connected: prints {"ready": true}, then submits
        one fresh task at a time, every 100 ms, until stdin closes or
        DEADLINE_S passes: in turn one that needs no CPU and one that needs a
        CPU and the `worker` resource (only a worker can run it); each waits
        up to 120 s for its result. A task that fails is counted, not retried.
workers: one fresh driver: once at least N (--workers=N, default 1) worker
        nodes are ALIVE in the node table and each has run a task pinned to
        it (node affinity, not soft), or DEADLINE_S passes: reports the nodes
        and which ran.
Every mode ends with one JSON line, epoch-ms times:
  create/incr: value, attempts, go, tcpAt, initAt, actorAt, answerAt, lastError
  watch: calls, failed, values (first, last), backwards (a value not above the
         one before), longestGapMs (longest time between two answers), lastError
  workers: alive (worker node IDs ALIVE), ran (those that ran a task), lastError
  tasks: tasks, failed, longestGapMs (longest time between two results),
         gaps (every time over 1 s between two results: [from, to]),
         slowestMs (the longest a task waited for its result), slowAt (when it
         was submitted), lastError
"""
import json
import os
import select
import socket
import sys
import threading
import time

import ray

gcs, mode, deadline_s, node_ip = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
wait_go = "--wait-go" in sys.argv[5:]
expect_workers = int(next((a.split("=", 1)[1] for a in sys.argv[5:] if a.startswith("--workers=")), "1"))
host, _, port = gcs.rpartition(":")
now_ms = lambda: int(time.time() * 1000)  # noqa: E731 - epoch ms, the scripts' clock too
NAMESPACE = "rhha-lab"


@ray.remote(num_cpus=0, resources={"worker": 0.01}, max_restarts=0)
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n


@ray.remote(num_cpus=0)
def light(i):
    return i


@ray.remote(num_cpus=1, resources={"worker": 0.01})
def on_worker(i):
    return i


out = {"attempts": 0, "lastError": None}


def emit_and_exit(code):
    print(json.dumps(out), flush=True)
    os._exit(code)


def give_up():
    # ray.init can block far past the deadline while the GCS is half up.
    time.sleep(deadline_s)
    out["error"] = "deadline"
    emit_and_exit(1)


def error_text(e):
    return "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:300] if str(e) else "")


def connect():
    ray.init(address=gcs, namespace=NAMESPACE, log_to_driver=False, _node_ip_address=node_ip)


def once():
    while True:
        out["attempts"] += 1
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            out.setdefault("tcpAt", now_ms())
            connect()
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
            out["lastError"] = error_text(e)
            try:
                ray.shutdown()
            except Exception:
                pass
            time.sleep(0.2)


def stdin_closed():
    r, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(r) and sys.stdin.readline() == ""


def watch():
    connect()
    c = ray.get_actor("counter")
    out.update(calls=0, failed=0, first=None, last=None, backwards=[], longestGapMs=0)
    print(json.dumps({"ready": True}), flush=True)
    last_ok = now_ms()
    while not stdin_closed():
        t = now_ms()
        out["calls"] += 1
        try:
            v = ray.get(c.incr.remote(), timeout=1)
            if out["last"] is not None and v <= out["last"] and len(out["backwards"]) < 10:
                out["backwards"].append([out["last"], v])
            out["first"] = v if out["first"] is None else out["first"]
            out["last"] = v
            out["longestGapMs"] = max(out["longestGapMs"], now_ms() - last_ok)
            last_ok = now_ms()
        except Exception as e:  # noqa: BLE001 - counted; the loop goes on
            out["failed"] += 1
            out["lastError"] = error_text(e)
            try:
                c = ray.get_actor("counter")
            except Exception:
                pass
        time.sleep(max(0, 0.05 - (now_ms() - t) / 1000))
    out["longestGapMs"] = max(out["longestGapMs"], now_ms() - last_ok)
    emit_and_exit(0)


def workers():
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    connect()
    out.update(alive=[], ran=[])
    while True:
        alive = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"] and "worker" in n["Resources"])
        out["alive"] = alive
        for node in alive:
            if node in out["ran"]:
                continue
            try:
                strategy = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
                if ray.get(light.options(scheduling_strategy=strategy).remote(7), timeout=10) == 7:
                    out["ran"].append(node)
            except Exception as e:  # noqa: BLE001 - tried again until the deadline
                out["lastError"] = error_text(e)
        if len(alive) >= expect_workers and all(n in out["ran"] for n in alive):
            out["answerAt"] = now_ms()
            emit_and_exit(0)
        time.sleep(0.2)


def tasks():
    connect()
    out.update(tasks=0, failed=0, longestGapMs=0, slowestMs=0, slowAt=None, gaps=[])
    print(json.dumps({"ready": True}), flush=True)
    last_ok = now_ms()
    while not stdin_closed():
        t = now_ms()
        fn = light if out["tasks"] % 2 == 0 else on_worker
        out["tasks"] += 1
        try:
            if ray.get(fn.remote(out["tasks"]), timeout=120) != out["tasks"]:
                raise RuntimeError("a task returned another task's value")
            if now_ms() - last_ok > 1000 and len(out["gaps"]) < 100:
                out["gaps"].append([last_ok, now_ms()])
            out["longestGapMs"] = max(out["longestGapMs"], now_ms() - last_ok)
            last_ok = now_ms()
        except Exception as e:  # noqa: BLE001 - counted; the loop goes on
            out["failed"] += 1
            out["lastError"] = error_text(e)
        if now_ms() - t > out["slowestMs"]:
            out["slowestMs"], out["slowAt"] = now_ms() - t, t
        time.sleep(max(0, 0.1 - (now_ms() - t) / 1000))
    out["longestGapMs"] = max(out["longestGapMs"], now_ms() - last_ok)
    emit_and_exit(0)


if wait_go or mode in ("watch", "tasks"):
    if mode not in ("watch", "tasks"):
        print(json.dumps({"ready": True}), flush=True)
        sys.stdin.readline()
out["go"] = now_ms()
threading.Thread(target=give_up, daemon=True).start()
if mode == "watch":
    watch()
elif mode == "tasks":
    tasks()
elif mode == "workers":
    workers()
else:
    once()
