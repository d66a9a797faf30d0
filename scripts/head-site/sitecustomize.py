"""An HA head's Ray Jobs run off the head (docs/design.md, decision 41).

This directory is first on the PYTHONPATH of an HA head (`ray-head-ha run`
puts it there, with RAY_HA_JOBS_OFF_HEAD=1), so every Python process of the
head imports this module at start. It does one thing, and only in the
process that imports Ray's job manager (the head's dashboard agent): a job
submitted without resources gets its supervisor, and so its driver, placed
on any node but the head, with a label selector (`ray.io/node-id` not the
head's), where Ray would pin it to the head or, with
RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES=1, place it at random, the head
included. A job on a worker lives through a failover; one on the head dies
with the leader. A job that asks for resources, or a label selector of its
own, is placed as Ray places it.

It leans on Ray's private `JobManager._get_label_selector` (Ray 2.60). When
this Ray has none, it changes nothing and says so on stderr (the agent's
log); the leader says so too (scripts/previous-heads.py checks the same).

It first runs the sitecustomize this one hides, if the interpreter has one.
"""
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
JOB_MANAGER = "ray.dashboard.modules.job.job_manager"


def _run_hidden_sitecustomize():
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def why_not_patchable(module):
    """None when this Ray's job manager can be changed as above, or why not."""
    manager = getattr(module, "JobManager", None)
    if manager is None or not hasattr(manager, "_get_label_selector"):
        return "this Ray's job manager has no _get_label_selector"
    if getattr(module, "get_head_node_id", None) is None:
        return "this Ray's job manager has no get_head_node_id"
    return None


def patch(module):
    """Jobs submitted without resources go anywhere but the head (see above)."""
    why = why_not_patchable(module)
    if why:
        sys.stderr.write(
            "ray-head-ha: %s: a Ray Job submitted without resources may run on the head and die with the leader\n" % why
        )
        return
    import ray._raylet

    manager = module.JobManager
    ray_selector = manager._get_label_selector
    node_id_key = getattr(ray._raylet, "RAY_NODE_ID_KEY", "ray.io/node-id")

    async def _get_label_selector(self, resources_specified):
        if resources_specified:
            return await ray_selector(self, resources_specified)
        head = await module.get_head_node_id(self._gcs_client)
        if not head:
            # No head in the node table yet: Ray's own choice (any node).
            return await ray_selector(self, resources_specified)
        return {node_id_key: "!" + head}

    manager._get_label_selector = _get_label_selector


class _PatchJobManager(importlib.abc.MetaPathFinder):
    """Patches Ray's job manager module right after it is first executed."""

    def find_spec(self, name, path, target=None):
        if name != JOB_MANAGER:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


try:
    _run_hidden_sitecustomize()
finally:
    if os.environ.get("RAY_HA_JOBS_OFF_HEAD") == "1" and os.environ.get("RAY_JOB_ALLOW_DRIVER_ON_WORKER_NODES") == "1":
        sys.meta_path.insert(0, _PatchJobManager())
