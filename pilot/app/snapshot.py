"""The one place a running pilot's status snapshot is assembled, from each part's own."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pilot
from pilot.interface.status import JobStatus, Status

if TYPE_CHECKING:
    from pilot.app.supervisor import Supervisor


def snapshot(supervisor: Supervisor) -> Status:
    """Jobs (with their health and election role), registrations, watches and templates."""
    health = supervisor.health.statuses()
    discovery = supervisor.discovery
    elections = discovery.election_statuses() if discovery else {}
    jobs = []
    for name, job in supervisor.jobs.items():
        checked = health.get(name)
        election = elections.get(name)
        jobs.append(
            JobStatus(
                job.statistics(),
                health=checked.healthy if checked else None,
                role=election.role if election else None,
                leader=election.leader if election else None,
            )
        )
    templates = supervisor.templates
    return Status(
        version=pilot.__version__,  # package metadata: read when status is asked for
        pid=os.getpid(),
        maintenance=supervisor.maintenance,
        jobs=tuple(jobs),
        services=discovery.registrar.statuses() if discovery else (),
        watches=discovery.watch_statuses() if discovery else (),
        templates=templates.statuses() if templates else (),
        consul_errors=tuple(sorted(discovery.errors.items())) if discovery else (),
    )
