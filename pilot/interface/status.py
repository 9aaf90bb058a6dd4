"""The frozen status snapshot of a running pilot, built in one place (the supervisor) and
rendered by `pilot ctl status`, `/v1/status`, telemetry's `/status` and `/metrics`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pilot.process.states import JobStats

if TYPE_CHECKING:  # only for annotations: `pilot run` without Consul imports none of them
    from pilot.consul.discovery import WatchStatus
    from pilot.consul.services import RegistrationStatus
    from pilot.render.renderer import TemplateStatus


@dataclass(frozen=True)
class JobStatus:
    """One job: its state machine's snapshot, its health, its role in an election."""

    stats: JobStats
    health: bool | None = None  # None: no check, or no verdict yet
    role: str | None = None  # "leader" / "follower" in an election
    leader: str | None = None  # the value the current leader wrote (its address:port)
    check_output: str | None = None  # the last health check's output, whole


@dataclass(frozen=True)
class Resolution:
    """Where a service of a `pilot up` stack resolves: "local", "remote" or "nowhere"."""

    service: str
    source: str
    address: str | None  # host:port of its first instance


@dataclass(frozen=True)
class Status:
    """Everything a running pilot reports about itself (never a token)."""

    version: str
    pid: int
    maintenance: bool
    jobs: tuple[JobStatus, ...]
    services: tuple[RegistrationStatus, ...] = ()
    watches: tuple[WatchStatus, ...] = ()
    templates: tuple[TemplateStatus, ...] = ()
    consul_errors: tuple[tuple[str, int], ...] = ()
    resolutions: tuple[Resolution, ...] = ()  # pilot up only
    monitor: str | None = None  # pilot up: the URL of the traffic monitor's page

    def to_json(self) -> dict[str, Any]:
        """The JSON document of `/v1/status` and `pilot ctl status --json`."""
        document = dataclasses.asdict(self)
        del document["consul_errors"]
        document["jobs"] = [
            {
                **dataclasses.asdict(job.stats),
                "state": job.stats.state.value,
                "health": None if job.health is None else "healthy" if job.health else "unhealthy",
                "role": job.role,
                "leader": job.leader,
                "check_output": job.check_output,
            }
            for job in self.jobs
        ]
        return document
