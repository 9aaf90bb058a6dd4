"""Everything that can be asked of a running pilot. Signals, the control socket and
`pilot ctl` all go through here: one command path."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Any

import pilot

if TYPE_CHECKING:
    from pilot.app.supervisor import Supervisor


class CommandError(Exception):
    """A command that cannot be done; `status` is the HTTP status the control socket answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Commands:
    """The operations of one running pilot."""

    def __init__(self, app: Supervisor) -> None:
        self._app = app

    def putenv(self, values: dict[str, Any]) -> None:
        """Set environment variables for the next run of every job."""
        if not isinstance(values, dict) or not all(isinstance(k, str) and k for k in values):
            raise CommandError(400, "expected a JSON object of variables")
        for key, value in values.items():
            if "=" in key or "\0" in key:
                raise CommandError(400, f"{key!r} is not a variable name")
            if not isinstance(value, str | int | float | bool):
                raise CommandError(400, f"{key}: value must be a string or a number")
        self._app.environment.overrides.update({k: str(v) for k, v in values.items()})

    async def reload(self) -> None:
        """Re-read the config and apply what changed (see Reloader)."""
        await self._app.reload()

    def putmetric(self, values: dict[str, Any]) -> None:
        """Record pushed values of declared metrics."""
        metrics = self._app.metrics
        if metrics is None:
            raise CommandError(422, "telemetry is not configured")
        if not isinstance(values, dict):
            raise CommandError(400, 'expected a JSON object like {"name": 1}')
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise CommandError(400, f"{key}: value must be a number")
            try:
                number = float(value)
            except ValueError:
                raise CommandError(400, f"{key}: {value!r} is not a number") from None
            metrics.push(str(key), number)

    async def maintenance(self, enable: bool, reason: str | None = None) -> None:
        """Enter or leave maintenance mode."""
        await self._app.set_maintenance(enable, reason)

    def job(self, name: str) -> Any:
        job = self._app.jobs.get(name)
        if job is None:
            raise CommandError(404, f"no job named {name!r}")
        return job

    async def restart_job(self, name: str) -> None:
        job = self.job(name)
        job.held = False
        job.accepting = True
        await job.restart()

    async def stop_job(self, name: str) -> None:
        """Stop a job until started again; stopping the main job does not end pilot."""
        job = self.job(name)
        job.held = True
        await job.stop()

    async def start_job(self, name: str) -> None:
        job = self.job(name)
        job.held = False
        job.accepting = True
        if not job.state.active:
            job.trigger(job.start_seq)

    def signal_job(self, name: str, signame: Any) -> bool:
        job = self.job(name)
        if not isinstance(signame, str):
            raise CommandError(400, 'expected {"signal": "SIGHUP"}')
        upper = signame.upper()
        name_ = upper if upper.startswith("SIG") else "SIG" + upper
        number = getattr(signal.Signals, name_, None) if name_.isidentifier() else None
        if number is None:
            raise CommandError(400, f"{signame!r} is not a signal name")
        sent: bool = job.signal(int(number))
        return sent

    def status(self) -> dict[str, Any]:
        """The state of everything this pilot runs (never a token)."""
        app = self._app
        jobs = []
        for name, job in app.jobs.items():
            stats = job.statistics()
            monitor = app.discovery.monitors.get(name) if app.discovery else None
            jobs.append(
                {
                    "name": name,
                    "state": stats.state,
                    "pid": stats.pid,
                    "runs": stats.runs,
                    "restarts": stats.restarts,
                    "last_exit": stats.last_exit,
                    "started_at": stats.started_at,
                    "health": None
                    if monitor is None or monitor.healthy is None
                    else "healthy"
                    if monitor.healthy
                    else "unhealthy",
                    "role": _role(app, name),
                    "leader": _leader(app, name),
                }
            )
        status: dict[str, Any] = {
            "version": pilot.__version__,
            "pid": os.getpid(),
            "maintenance": app.maintenance,
            "jobs": jobs,
            "services": [],
            "watches": [],
            "templates": [],
        }
        if app.discovery is not None:
            status["services"] = app.discovery.registrar.describe()
            status["watches"] = [
                {
                    "name": name,
                    "instances": len(state.instances),
                    "healthy": state.healthy,
                    "updates": state.updates,
                }
                for name, state in app.discovery.watches.items()
            ]
        if app.templates is not None:
            status["templates"] = [
                {
                    "name": name,
                    "dest": runner.config.dest,
                    "rendered": runner.rendered_once,
                    "renders": runner.stats.renders,
                    "failures": runner.stats.failures,
                    "last_render": runner.stats.last_render,
                    "last_error": runner.stats.last_error,
                }
                for name, runner in app.templates.runners.items()
            ]
        return status


def _role(app: Supervisor, job: str) -> str | None:
    """ "leader" or "follower" for a job in an election, else None."""
    election = app.discovery.elections.get(job) if app.discovery else None
    if election is None:
        return None
    return "leader" if election.elected else "follower"


def _leader(app: Supervisor, job: str) -> str | None:
    """The value the current holder of a job's lock wrote (its address:port), if known."""
    election = app.discovery.elections.get(job) if app.discovery else None
    return None if election is None else election.leader_value
