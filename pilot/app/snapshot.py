"""The one place a running pilot's status snapshot is assembled, from each part's own."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pilot
from pilot.health.jobs import JobHealth
from pilot.interface.status import JobStatus, Status
from pilot.process.job import Job

if TYPE_CHECKING:
    from pilot.consul.discovery import Discovery
    from pilot.render.templates import Templates


def snapshot(
    jobs_by_name: Mapping[str, Job],
    job_health: JobHealth,
    discovery: Discovery | None,
    templates: Templates | None,
    maintenance: bool,
) -> Status:
    """Jobs (with their health and election role), registrations, watches and templates."""
    health = job_health.statuses()
    elections = discovery.election_statuses() if discovery else {}
    jobs = []
    for name, job in jobs_by_name.items():
        checked = health.get(name)
        election = elections.get(name)
        jobs.append(
            JobStatus(
                job.statistics(),
                health=checked.healthy if checked else None,
                role=election.role if election else None,
                leader=election.leader if election else None,
                check_output=checked.output if checked else None,
            )
        )
    return Status(
        version=pilot.__version__,  # package metadata: read when status is asked for
        pid=os.getpid(),
        maintenance=maintenance,
        jobs=tuple(jobs),
        services=discovery.registrar.statuses() if discovery else (),
        watches=discovery.watch_statuses() if discovery else (),
        templates=templates.statuses() if templates else (),
        consul_errors=tuple(sorted(discovery.errors.items())) if discovery else (),
    )
