"""Runs one job's health check every interval while the job runs, and reports the results."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from pilot.config.model import JobConfig
from pilot.events import Code
from pilot.health.checks import CheckResult, exec_check, http_check, tcp_check
from pilot.log import Log
from pilot.process.reaper import Reaper

# (job, result, seconds the check took; 0 for a verdict that ran no check)
ResultSink = Callable[[str, CheckResult, float], None]


class JobChecker:
    """Checks one job: first at once, then every `interval` from the previous start.

    `healthy`/`unhealthy` are emitted on transitions only (the first answer counts as one);
    every result goes to `on_result` (the Consul registrar keeps its TTL check up to date).
    """

    def __init__(
        self,
        job: JobConfig,
        reaper: Reaper,
        environment: Callable[[], Mapping[str, str]],
        emit: Callable[[str, str], object],
        on_result: ResultSink,
        log: Log,
    ) -> None:
        assert job.health is not None
        self.job, self._health = job, job.health
        self._reaper, self._environment = reaper, environment
        self._emit, self._on_result, self._log = emit, on_result, log
        self._task: asyncio.Task[None] | None = None
        self.healthy: bool | None = None
        self._passed_once = False

    def start(self) -> None:
        """Start checking (the job has just started)."""
        if self._task is None or self._task.done():
            self._passed_once = False
            self._task = asyncio.get_running_loop().create_task(self._loop())

    def stop(self, reason: str | None = None) -> None:
        """Stop checking (the job is no longer running); with a `reason`, report it unhealthy."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if reason is not None:
            self._record(CheckResult(False, reason), 0.0)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            result = await self.check_once()
            self._record(result, loop.time() - started)
            await asyncio.sleep(max(0.0, started + self._health.interval - loop.time()))

    async def check_once(self) -> CheckResult:
        """Run the check once."""
        health, timeout = self._health, self._health.check_timeout
        try:
            if health.http is not None:
                return await http_check(
                    health.http,
                    timeout,
                    method=health.method,
                    headers=health.header,
                    verify=not health.tls_skip_verify,
                )
            if health.tcp is not None:
                return await tcp_check(health.tcp, timeout)
            assert health.exec is not None
            return await exec_check(
                health.exec, timeout, self._reaper, self._environment(), self.job.cwd
            )
        except Exception as error:
            return CheckResult(False, f"check could not run: {error}")

    def _record(self, result: CheckResult, seconds: float) -> None:
        if result.passing != self.healthy:
            self.healthy = result.passing
            # Failures before a run's first success are the app still starting: debug only.
            starting = not result.passing and not self._passed_once and self._task is not None
            log = self._log.debug if starting else self._log.info
            log(
                f"{self.job.name} is {'healthy' if result.passing else 'unhealthy'}",
                output=result.output[:200],
                job=self.job.name,
            )
            self._emit(Code.HEALTHY if result.passing else Code.UNHEALTHY, self.job.name)
        self._passed_once = self._passed_once or result.passing
        self._on_result(self.job.name, result, seconds)
