"""An HA head's Ray Jobs run off the head (docs/design.md, decision 41).

This directory is first on the PYTHONPATH of an HA head (`ray-head-ha run`
puts it there, with RAY_HA_HEAD_SITE=1), so every Python process of the
head imports this module at start. It does one thing, and only in the
process that imports Ray's job manager (the head's dashboard agent): a job
submitted without resources gets its supervisor, and so its driver, placed
on any node but the head, with a label selector (`ray.io/node-id` not the
head's), where Ray would pin it to the head or, with
RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES=1, place it at random, the head
included. A job on a worker lives through a failover; one on the head dies
with the leader. A job that asks for resources, or a label selector of its
own, is placed as Ray places it.

It leans on Ray's private `JobManager._get_label_selector` (Ray 2.60: a
coroutine taking `resources_specified`). When this Ray's differs, it changes
nothing and says so on stderr (the agent's log); the leader says so too
(scripts/previous-heads.py checks the same). Anything that fails in it falls
back to Ray's own placement, with a line in the agent's log.

It first runs the sitecustomize this one hides, if the interpreter has one.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import os
import sys
import threading

_HERE = os.path.dirname(os.path.realpath(__file__))
JOB_MANAGER = "ray.dashboard.modules.job.job_manager"
# This file's first line: a copy of it further on the path is skipped, never chained to.
_MARK = b'"""An HA head\'s Ray Jobs run off the head'
# Set while this module runs the sitecustomize it hides.
_CHAINING = "_ray_head_ha_site_chaining"


def _is_a_copy(origin):
    try:
        with open(origin, "rb") as f:
            return f.read(len(_MARK)) == _MARK
    except OSError:
        return False


def _run_hidden_sitecustomize():
    if getattr(sys, _CHAINING, False):
        return
    path = [p for p in sys.path if os.path.realpath(p or os.curdir) != _HERE]
    while True:
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
        if spec is None or spec.loader is None:
            return
        if not (spec.origin and _is_a_copy(spec.origin)):
            break
        copy = os.path.dirname(os.path.realpath(spec.origin))
        path = [p for p in path if os.path.realpath(p or os.curdir) != copy]
    ours = sys.modules.get("sitecustomize")
    hidden = importlib.util.module_from_spec(spec)
    # As Python would have run it: under its own name.
    sys.modules["sitecustomize"] = hidden
    setattr(sys, _CHAINING, True)
    try:
        spec.loader.exec_module(hidden)
    finally:
        setattr(sys, _CHAINING, False)
        if ours is not None:
            sys.modules["sitecustomize"] = ours


def why_not_patchable(module):
    """None when this Ray's job manager can be changed as above, or why not."""
    manager = getattr(module, "JobManager", None)
    method = getattr(manager, "_get_label_selector", None)
    if method is None:
        return "this Ray's job manager has no _get_label_selector"
    if not inspect.iscoroutinefunction(method):
        return "this Ray's JobManager._get_label_selector is not a coroutine"
    try:
        params = list(inspect.signature(method).parameters)
    except (TypeError, ValueError) as e:
        return "this Ray's JobManager._get_label_selector has no readable signature: %s" % e
    if params != ["self", "resources_specified"]:
        return "this Ray's JobManager._get_label_selector takes (%s), not (self, resources_specified)" % ", ".join(params)
    if not inspect.iscoroutinefunction(getattr(module, "get_head_node_id", None)):
        return "this Ray's job manager has no get_head_node_id coroutine"
    return None


def patch(module):
    """Jobs submitted without resources go anywhere but the head (see above); safe to call twice."""
    why = why_not_patchable(module)
    if why:
        sys.stderr.write(
            "ray-head-ha: %s: a Ray Job submitted without resources may run on the head and die with the leader\n" % why
        )
        return
    manager = module.JobManager
    if getattr(manager._get_label_selector, "_ray_head_ha", False):
        return
    import ray._raylet

    ray_selector = manager._get_label_selector
    node_id_key = getattr(ray._raylet, "RAY_NODE_ID_KEY", "ray.io/node-id")
    logger = getattr(module, "logger", None)

    def say(level, msg, *args):
        if logger is not None:
            getattr(logger, level)(msg, *args)

    async def _get_label_selector(self, resources_specified):
        if resources_specified:
            return await ray_selector(self, resources_specified)
        try:
            # The head as Ray reads it. A job reaches this job manager only through the head
            # that this key names (Ray's job head routes submissions by it), so it is this head.
            head = await module.get_head_node_id(self._gcs_client)
        except Exception as e:  # noqa: BLE001 - Ray's own placement rather than no job at all
            say("warning", "ray-head-ha: could not read the head's node ID (%s): Ray places this job", e)
            return await ray_selector(self, resources_specified)
        if not head:
            say("warning", "ray-head-ha: no head node ID in the GCS yet: Ray places this job")
            return await ray_selector(self, resources_specified)
        say("info", "ray-head-ha: a job without resources runs off the head node %s (label selector %s: !%s)", head, node_id_key, head)
        return {node_id_key: "!" + head}

    _get_label_selector._ray_head_ha = True
    manager._get_label_selector = _get_label_selector


class _PatchJobManager(importlib.abc.MetaPathFinder):
    """Patches Ray's job manager module each time it is executed (first import, reload)."""

    _busy = threading.local()

    def find_spec(self, name, path, target=None):
        if name != JOB_MANAGER or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._busy.on = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            try:
                patch(module)
            except Exception as e:  # noqa: BLE001 - never break Ray's job manager
                sys.stderr.write("ray-head-ha: could not change Ray's job placement (%s: %s): Ray places every job\n" % (type(e).__name__, e))

        spec.loader.exec_module = exec_module
        return spec


try:
    _run_hidden_sitecustomize()
finally:
    if os.environ.get("RAY_HA_HEAD_SITE") == "1" and os.environ.get("RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES") == "1":
        if not any(isinstance(f, _PatchJobManager) for f in sys.meta_path):
            sys.meta_path.insert(0, _PatchJobManager())
