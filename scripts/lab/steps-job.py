#!/usr/bin/env python3
"""A Ray Job's entrypoint for the lab: submitted the usual way, no resources.

Usage: steps-job.py STEPS [PAUSE_S]
       steps-job.py --until FILE [PAUSE_S]

Connects as a Job's driver does (RAY_ADDRESS from its supervisor), then runs
steps one after the other: each a fresh zero-CPU task, waited for up to 300 s,
then a pause (default 0.5 s). It runs STEPS steps, or with --until as many as
it takes for FILE to exist. Prints `step I (T s)` per step and `done N` at the
end; exit 0 only when every step returned its own number.
"""
import os
import sys
import time

import ray

until = sys.argv[2] if sys.argv[1] == "--until" else None
steps = None if until else int(sys.argv[1])
rest = sys.argv[3:] if until else sys.argv[2:]
pause = float(rest[0]) if rest else 0.5
ray.init(log_to_driver=False)


@ray.remote(num_cpus=0)
def step(i):
    return i


i = 0
while (i < steps) if steps is not None else not os.path.exists(until):
    t = time.time()
    if ray.get(step.remote(i), timeout=300) != i:
        sys.exit("step %d: a task returned another task's value" % i)
    print("step %d (%.2f s)" % (i, time.time() - t), flush=True)
    i += 1
    time.sleep(pause)
print("done %d" % i, flush=True)
