"""The main job of a converted ContainerPilot config: ContainerPilot has none (it runs until
every job is over), pilot.json5 needs one to know when to exit."""

from __future__ import annotations

import math
from typing import Any

from pilot.config.containerpilot.v3 import IDLE_EXEC
from pilot.events import Code


def main_job(jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The long-running app: the first advertised job with its own exec, else the last job
    that is neither periodic nor a hook, else the periodic job that runs the longest."""
    hooks = (Code.STOPPING, Code.STOPPED, Code.SHUTDOWN)
    apps = [
        job
        for job in jobs
        if job.get("exec") is not IDLE_EXEC
        and "interval" not in job.get("when", {})
        and job.get("when", {}).get("once") not in hooks
        and job.get("when", {}).get("each") not in hooks
    ]
    advertised = [job for job in apps if "port" in job]
    if advertised:
        return advertised[0]
    if apps:
        return apps[-1]
    periodic = [job for job in jobs if "interval" in job.get("when", {})]
    return max(periodic, key=_runs, default=jobs[0] if jobs else None)


def _runs(job: dict[str, Any]) -> float:
    """How many times a periodic job runs (restarts unset or "unlimited": for ever)."""
    restarts = job.get("restarts", "unlimited")
    return math.inf if restarts == "unlimited" else 0 if restarts == "never" else int(restarts)
