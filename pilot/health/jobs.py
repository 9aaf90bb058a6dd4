"""Health of every job that has a `health` check, with or without Consul: checked while the
job runs, `healthy`/`unhealthy` published on the bus, each result handed to the listeners
(the Consul registrar, metrics)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pilot.config.model import JobConfig
from pilot.events import EXIT_CODES, Code, Event, EventBus
from pilot.log import Log
from pilot.process.reaper import Reaper

if TYPE_CHECKING:  # the checks are imported when a job has one, not on every start
    from pilot.health.checker import JobChecker, ResultSink
    from pilot.health.checks import CheckResult


@dataclass(frozen=True)
class HealthStatus:
    """A job's health as last checked: None before the first verdict."""

    job: str
    healthy: bool | None
    output: str = ""  # the last check's output, whole


class JobHealth:
    """One checker per job with `health`; starts it on `started`, stops it on the job's exit."""

    def __init__(
        self,
        bus: EventBus,
        reaper: Reaper,
        environment: Callable[[JobConfig], Mapping[str, str]],
        log: Log,
        stopped_by_pilot: Callable[[str], bool] = lambda _job: False,
    ) -> None:
        """`stopped_by_pilot(job)` says whether the job's last exit was asked for by pilot (a
        stop, a restart): that exit is no health verdict."""
        self._bus, self._reaper, self._environment, self._log = bus, reaper, environment, log
        self._stopped_by_pilot = stopped_by_pilot
        self._checkers: dict[str, JobChecker] = {}
        self._listeners: list[ResultSink] = []
        bus.subscribe(self._on_event)

    def add_listener(self, listener: ResultSink) -> None:
        """Hand every result to `listener(job, result, seconds)`."""
        self._listeners.append(listener)

    def set_jobs(self, jobs: Iterable[JobConfig]) -> None:
        """Check these jobs: checkers of jobs no longer there or changed are stopped."""
        wanted = {job.name: job for job in jobs if job.health is not None}
        for name, checker in list(self._checkers.items()):
            if wanted.get(name) != checker.job:
                checker.stop()
                del self._checkers[name]
        if wanted:
            from pilot.health.checker import JobChecker
        for name, job in wanted.items():
            if name not in self._checkers:
                self._checkers[name] = JobChecker(
                    job,
                    self._reaper,
                    functools.partial(self._environment, job),
                    self._bus.publish,
                    self._deliver,
                    self._log,
                )

    def statuses(self) -> dict[str, HealthStatus]:
        """The health of every checked job."""
        return {
            name: HealthStatus(name, checker.healthy, checker.last_output)
            for name, checker in self._checkers.items()
        }

    def stop_all(self) -> None:
        """Stop every check (shutdown: the services are leaving Consul)."""
        for checker in self._checkers.values():
            checker.stop()

    def close(self) -> None:
        """Stop checking and stop following the bus."""
        self._bus.unsubscribe(self._on_event)
        self.stop_all()

    def _on_event(self, event: Event, seq: int) -> None:
        checker = self._checkers.get(event.source)
        if checker is None:
            return
        if event.code == Code.STARTED:
            checker.start()
        elif event.code in EXIT_CODES and self._stopped_by_pilot(event.source):
            checker.stop()
            checker.forget()
        elif event.code in EXIT_CODES:
            checker.stop(reason=f"{event.source} is not running ({event.code})")

    def _deliver(self, job: str, result: CheckResult, seconds: float) -> None:
        for listener in self._listeners:
            listener(job, result, seconds)
