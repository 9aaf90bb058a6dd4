"""Check runners: what keeps a check's status moving, a TTL that expires or HTTP/TCP/script
runs every interval.

Runners report to the agent through a callback `(check_id, runner, status, output)`; the
agent ignores reports from a runner that has since been replaced.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from pilot.devconsul.checks.definitions import CheckSpec
from pilot.devconsul.checks.probes import http_probe, output_limit, tcp_probe
from pilot.devconsul.go.durations import SECOND
from pilot.devconsul.state.catalog import CRITICAL, PASSING, WARNING
from pilot.devconsul.state.scheduler import Scheduler, Timer

MIN_INTERVAL = 1.0  # checks.MinInterval: shorter intervals are raised to it

Report = Callable[[str, object, str, str], None]


class CheckRunner:
    """Something that runs a check until stopped."""

    def start(self) -> None:
        """Begin (the registration has been stored)."""

    def stop(self) -> None:
        """Stop for good."""


class TTLRunner(CheckRunner):
    """Critical with "TTL expired" unless updated within the TTL (Consul's CheckTTL)."""

    def __init__(self, check_id: str, spec: CheckSpec, scheduler: Scheduler, report: Report):
        self.check_id, self.spec, self.scheduler, self.report = check_id, spec, scheduler, report
        self.last_output = ""
        self._timer: Timer | None = None

    def start(self) -> None:
        self._restart()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def update(self, output: str) -> str:
        """A pass/warn/fail/update arrived: restart the clock; returns the output to store,
        truncated as Consul does."""
        limit = output_limit(self.spec)
        if len(output.encode()) > limit:
            total = len(output.encode())
            head = output.encode()[:limit].decode("utf-8", "ignore")
            output = f"{head} ... (captured {limit} of {total} bytes)"
        self.last_output = output
        self._restart()
        return output

    def _restart(self) -> None:
        self.stop()
        self._timer = self.scheduler.call_later(self.spec.ttl / SECOND, self._expired)

    def _expired(self) -> None:
        output = "TTL expired"
        if self.last_output:
            output = f"TTL expired (last output before timeout follows): {self.last_output}"
        self.report(self.check_id, self, CRITICAL, output)


class ProbeRunner(CheckRunner):
    """Runs a check every interval (HTTP, TCP, or the given `probe`), the first run after a
    random stagger, one run at a time, and applies SuccessBeforePassing /
    FailuresBeforeWarning / FailuresBeforeCritical.

    Each run has a daemon thread of its own (Consul: a goroutine per check): a probe still
    waiting out its timeout when the registry stops does not hold the process's exit, as the
    workers of a ThreadPoolExecutor, joined at interpreter exit, did.
    """

    def __init__(
        self,
        check_id: str,
        spec: CheckSpec,
        scheduler: Scheduler,
        report: Report,
        probe: Callable[[CheckSpec], tuple[str, str]] | None = None,
    ) -> None:
        self.check_id, self.spec, self.scheduler = check_id, spec, scheduler
        self.report = report
        self.interval = max(spec.interval / SECOND, MIN_INTERVAL)
        self._probe = probe or (http_probe if spec.kind == "http" else tcp_probe)
        self._successes = self._failures = 0
        self._stopped = False
        self._timer: Timer | None = None

    def start(self) -> None:
        self._timer = self.scheduler.call_later(random.uniform(0, self.interval), self._due)

    def stop(self) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()

    def _due(self) -> None:
        if not self._stopped:
            name = f"consul-dev check {self.check_id}"
            threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        status, output = self._probe(self.spec)
        if self._stopped:
            return
        reported = self._threshold(status)
        if reported is not None:
            self.report(self.check_id, self, reported, output)
        self._timer = self.scheduler.call_later(self.interval, self._due)

    def _threshold(self, status: str) -> str | None:
        """Consul's StatusHandler: the status to report now, or None to wait for more runs."""
        spec = self.spec
        if status in (PASSING, WARNING):
            self._successes, self._failures = self._successes + 1, 0
            return status if self._successes >= spec.success_before_passing else None
        self._failures, self._successes = self._failures + 1, 0
        if self._failures >= spec.failures_before_critical:
            return CRITICAL
        return WARNING if self._failures >= spec.failures_before_warning else None
