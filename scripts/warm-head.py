"""A warm standby's head (docs/design.md, decision 32).

    python warm-head.py RAY_SCRIPT ARG...

Run by a standby's keeper, in the head's process group, with the keeper's
fencing deadline and parent-death signal, like a head. It imports Ray's CLI
(what a cold `ray start` spends most of its first second on) and then waits,
touching no cluster state and listening on no port, for one line on its
stdin (a pipe only the orchestrator holds):

    {"env": {"NAME": "value", ...}}   the go: set these (the term's), then
                                      run `RAY_SCRIPT ARG...` here, as Ray's
                                      own console script would
    EOF, or anything else             exit 0 without running anything

RAY_SCRIPT is the `ray` console script the cold head would run (its
directory goes first on sys.path, as it would for that script).
"""
import json
import os
import sys


def main() -> int:
    if len(sys.argv) < 2:
        sys.stderr.write("usage: warm-head.py RAY_SCRIPT ARG...\n")
        return 2
    ray_script = sys.argv[1]
    sys.path[0] = os.path.dirname(os.path.abspath(ray_script))
    from ray.scripts.scripts import main as ray_main

    line = sys.stdin.readline()
    try:
        go = json.loads(line) if line.endswith("\n") else None
    except ValueError:
        go = None
    env = go.get("env") if isinstance(go, dict) else None
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        return 0
    os.environ.update(env)
    # As a cold head: stdin is /dev/null from here on.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.argv = [ray_script, *sys.argv[2:]]
    return ray_main()


if __name__ == "__main__":
    sys.exit(main())
