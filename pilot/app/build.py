"""Rebuild one job without disturbing the others: its `build` runs while the old process keeps
serving, and only a build that succeeds restarts it (same port, same registration)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from pilot.config.up_model import DEFAULT_BUILD_TIMEOUT
from pilot.interface.commands import CommandError

if TYPE_CHECKING:
    from pilot.app.view import PilotView


class Builds:
    """The builds of one pilot: one at a time per job."""

    def __init__(self, supervisor: PilotView) -> None:
        self._supervisor = supervisor
        self._locks: dict[str, asyncio.Lock] = {}

    async def rebuild(self, name: str) -> None:
        """Build job `name` (when it has a `build`) and restart it if the build succeeded; a
        job stopped through ctl starts.

        Raises:
            CommandError(404): no such job; CommandError(422): the build failed (the old
                process keeps running), with the build's output.
        """
        app = self._supervisor
        job = app.job(name)
        if job is None:
            raise CommandError(404, f"no job named {name!r}")
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            build = job.config.build
            if build is not None:
                app.log.info(f"{name}: building: {' '.join(build)}", job=name)
                started = time.monotonic()
                from pilot.health.checks import exec_check

                env = app.environment.for_job(job.config)
                timeout = job.config.build_timeout or DEFAULT_BUILD_TIMEOUT
                result = await exec_check(build, timeout, app.reaper, env, job.config.cwd)
                for line in result.output.splitlines():
                    app.log.job_line(name, "stderr", f"[build] {line}")
                if not result.passing:
                    why = result.output.strip().splitlines()[-1:] or ["it failed"]
                    message = f"{name}: build failed, the running process is kept: {why[0]}"
                    app.log.error(message, job=name)
                    raise CommandError(422, f"{message}\n{result.output.strip()}")
                app.log.info(
                    f"{name}: built in {time.monotonic() - started:.1f}s, restarting", job=name
                )
            job = app.job(name)  # a reload during the build may have replaced it
            if job is None:
                raise CommandError(404, f"no job named {name!r}")
            if app.shutting_down:
                raise CommandError(422, "pilot is shutting down: not restarting")
            await job.restart(requested=True)

    async def on_change(self, name: str) -> None:
        """`rebuild` for a watch, an automatic restart: a job stopped through ctl is left alone
        and not even built (its developer may be running it in a debugger, on its port)."""
        job = self._supervisor.job(name)
        if job is not None and job.held:
            self._supervisor.log.info(f"{name} is stopped (pilot ctl stop): not rebuilt", job=name)
            return
        await self.rebuild(name)
