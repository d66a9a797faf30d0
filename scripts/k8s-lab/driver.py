"""A Ray driver for the Kubernetes lab's tests and bench, run in a worker pod.

Usage: driver.py create|incr [ADDRESS] (default ray-head:6379, the leader Service).
`create`: makes the detached actor `counter` (half a CPU: it lives on a
worker, never on a head, and leaves the worker room for a Ray Job's driver
and a Serve replica) and calls it once; `incr`: finds it and calls it once.
Prints `COUNTER <n>`: the actor's state, which survives a head failover.
"""
import sys

import ray

ray.init(address=sys.argv[2] if len(sys.argv) > 2 else "ray-head:6379", namespace="k8s-e2e", logging_level="ERROR", log_to_driver=False)


@ray.remote(num_cpus=0.5)
class Counter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n


if sys.argv[1] == "create":
    actor = Counter.options(name="counter", lifetime="detached", get_if_exists=True).remote()
else:
    actor = ray.get_actor("counter")
print("COUNTER", ray.get(actor.incr.remote(), timeout=20), flush=True)
