"""The one implementation of the commands protocol: the control socket, telemetry, template
actions and pilot's own signal handling all act on jobs through it."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pilot.config.kinds import signal_number
from pilot.interface.commands import CommandError
from pilot.interface.status import Status

if TYPE_CHECKING:
    from pilot.app.view import PilotView
    from pilot.interface.routes import LogsQuery, TrafficQuery
    from pilot.process.job import Job
    from pilot.traffic.monitor import TrafficMonitor


class SupervisorCommands:
    """The operations of one running pilot."""

    def __init__(self, supervisor: PilotView) -> None:
        self._supervisor = supervisor

    def status(self) -> Status:
        """The state of everything this pilot runs (never a token)."""
        return self._supervisor.status()

    def putenv(self, values: Any) -> None:
        """Set environment variables for the next run of every job."""
        if not isinstance(values, dict) or not all(isinstance(k, str) and k for k in values):
            raise CommandError(400, "expected a JSON object of variables")
        for key, value in values.items():
            if "=" in key or "\0" in key:
                raise CommandError(400, f"{key!r} is not a variable name")
            if not isinstance(value, str | int | float | bool):
                raise CommandError(400, f"{key}: value must be a string or a number")
            if "\0" in str(value):
                raise CommandError(400, f"{key}: a value cannot hold a NUL byte")
        self._supervisor.putenv({k: str(v) for k, v in values.items()})

    async def reload(self) -> None:
        """Re-read the config and apply what changed."""
        await self._supervisor.reload()

    def putmetric(self, values: Any) -> None:
        """Record pushed values of declared metrics."""
        metrics = self._supervisor.metrics
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
        await self._supervisor.set_maintenance(enable, reason)

    async def restart_job(self, name: str) -> None:
        """Restart a job now; a job stopped through ctl starts again."""
        await self._job(name).restart(requested=True)

    async def stop_job(self, name: str) -> None:
        """Stop a job until started again; stopping the main job does not end pilot."""
        await self._job(name).hold()

    async def start_job(self, name: str) -> None:
        """Start a job stopped through ctl (or over); a running job is left alone."""
        self._job(name).release()

    def signal_job(self, name: str, signame: Any) -> bool:
        """Send a signal (`"SIGHUP"`, `"hup"`) to a job's process group; False if not running."""
        job = self._job(name)
        if not isinstance(signame, str):
            raise CommandError(400, 'expected {"signal": "SIGHUP"}')
        number = signal_number(signame)
        if number is None:
            raise CommandError(400, f"{signame!r} is not a signal name")
        return job.signal(number)

    async def rebuild_job(self, name: str) -> None:
        """Build a job (its `build`) while it keeps running, then restart it if that worked."""
        await self._supervisor.builds.rebuild(name)

    async def logs(self, query: LogsQuery) -> dict[str, Any]:
        """The kept output of `query.jobs` (all when none): `{"lines": [...], "next": N}`.
        With `query.wait`, hold the answer up to that many seconds until a line numbered above
        `query.after` comes (`pilot logs -f`)."""
        for name in query.jobs:
            self._job(name)
        buffer = self._supervisor.logs
        lines, newest = await buffer.feed.poll(
            lambda above: buffer.lines(query.jobs, above, query.last, query.since),
            query.after,
            query.wait,
        )
        return {
            "lines": [dataclasses.asdict(line) for line in lines],
            "next": max(query.after, newest),
        }

    async def traffic(self, query: TrafficQuery) -> dict[str, Any]:
        """The monitored exchanges of `query.services` (all when none), oldest first, numbered
        above `query.after`: `{"exchanges": [...], "next": N}`, summaries unless
        `query.whole`. With `query.wait`, hold the answer until one comes (`pilot traffic -f`)."""
        store = self._traffic().store
        chosen, newest = await store.feed.poll(
            lambda above: store.select(query.services, above, query.last), query.after, query.wait
        )
        return {
            "exchanges": [
                exchange.to_json() if query.whole else exchange.summary() for exchange in chosen
            ],
            "next": max(query.after, newest),
            "services": store.services(),
        }

    def exchange(self, exchange_id: int) -> dict[str, Any]:
        """Everything recorded of exchange `exchange_id`."""
        exchange = self._traffic().store.get(exchange_id)
        if exchange is None:
            raise CommandError(404, f"no exchange {exchange_id} (kept: the last of each service)")
        return exchange.to_json()

    def _traffic(self) -> TrafficMonitor:
        traffic = self._supervisor.traffic
        if traffic is None:
            raise CommandError(
                404, "no traffic monitor: set `monitor: true` in the config (pilot up)"
            )
        return traffic

    def _job(self, name: str) -> Job:
        job = self._supervisor.job(name)
        if job is None:
            raise CommandError(404, f"no job named {name!r}")
        return job

