"""What a kind of pilot adds to the supervisor at fixed points of its life. A plain pilot
(`pilot run`, `pilot --`) adds nothing; `pilot up`'s stack (`pilot.up.stack`) adds the stack's
variables, file watches, remote services and the traffic monitor, and runs until stopped."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from pilot.config.model import Config, JobConfig
from pilot.interface.status import Status

if TYPE_CHECKING:
    from pilot.app.view import PilotView
    from pilot.traffic.monitor import TrafficMonitor

Source = Callable[[], Mapping[str, str]]
JobSource = Callable[[JobConfig], Mapping[str, str]]


class Mode:
    """The plain pilot: every hook does nothing. A mode is built by the supervisor it serves
    (`Supervisor(..., mode=Factory)`), which it sees through `PilotView`."""

    ends_with_main_job = True  # False: runs until stopped, whatever its jobs do, and exits 0
    traffic: TrafficMonitor | None = None

    def __init__(self, pilot: PilotView) -> None:
        self.pilot = pilot

    def load(self, path: str, environ: Mapping[str, str]) -> Config:
        """Read the config file as this pilot runs it (a reload); raises ConfigError."""
        from pilot.config.load import load_config  # `pilot --` has no file to read

        return load_config(path, environ)

    def environment_sources(self) -> tuple[Source, ...]:
        """Variables every job and command gets, asked for at each spawn."""
        return ()

    def job_environment_sources(self) -> tuple[JobSource, ...]:
        """Variables of one job, asked for at each of its spawns."""
        return ()

    async def prepare(self) -> None:
        """Before anything starts."""

    def discovery_started(self) -> None:
        """Right after Consul (registrations, watches) started."""

    async def servers_started(self) -> None:
        """After the control socket and telemetry, before any job starts.

        Raises:
            OSError: something cannot listen; pilot does not start.
        """

    async def before_startup(self) -> None:
        """Last, before the `startup` event."""

    async def reloaded(self) -> None:
        """After a reload was applied.

        Raises:
            CommandError: what the mode could not follow.
        """

    def status(self, status: Status) -> Status:
        """The supervisor's status, with what the mode knows."""
        return status

    async def close(self) -> None:
        """At exit, before the servers close."""


ModeFactory = Callable[["PilotView"], Mode]
