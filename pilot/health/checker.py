"""Runs one job's health check every interval while the job runs, and reports the results."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from pilot.config.model import JobConfig
from pilot.events import Code
from pilot.health.checks import CheckResult, exec_check, http_check, tcp_check
from pilot.log import Log
from pilot.process.reaper import Reaper

STARTING_GRACE = 5.0  # seconds of failing checks a new run gets before pilot says why

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
        self.last_output = ""
        self._passed_once = False
        self._said_why = False
        self._run_started = 0.0

    def start(self) -> None:
        """Start checking (the job has just started)."""
        if self._task is None or self._task.done():
            self._passed_once = self._said_why = False
            self._run_started = asyncio.get_running_loop().time()
            self._task = asyncio.get_running_loop().create_task(self._loop())

    def stop(self, reason: str | None = None) -> None:
        """Stop checking (the job is no longer running); with a `reason`, report it unhealthy."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if reason is not None:
            self._record(CheckResult(False, reason), 0.0)

    def forget(self) -> None:
        """No verdict any more, without a transition (the job was stopped on request)."""
        self.healthy = None

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
        self.last_output = result.output
        starting = not result.passing and not self._passed_once and self._task is not None
        if result.passing != self.healthy:
            self.healthy = result.passing
            # Failures before a run's first success are the app still starting: debug only.
            log = self._log.debug if starting else self._log.info
            log(
                f"{self.job.name} is {'healthy' if result.passing else 'unhealthy'}",
                output=one_line(result.output),
                job=self.job.name,
            )
            self._emit(Code.HEALTHY if result.passing else Code.UNHEALTHY, self.job.name)
        if starting and not self._said_why:
            self._say_why_if_stuck(result)
        self._passed_once = self._passed_once or result.passing
        self._on_result(self.job.name, result, seconds)

    def _say_why_if_stuck(self, result: CheckResult) -> None:
        """A run whose check has failed since it started, past a grace for starting up, is
        worth one line saying so and where pilot looks (a service not listening on its port
        otherwise fails in silence)."""
        running = asyncio.get_running_loop().time() - self._run_started
        if running < max(STARTING_GRACE, 2 * self._health.interval):
            return
        self._said_why = True
        self._log.warn(
            f"{self.job.name} has not passed its health check in the {running:.0f}s since it "
            f"started: {one_line(result.output)}{self._hint()}",
            job=self.job.name,
        )

    def _hint(self) -> str:
        health = self._health
        target = health.tcp or (urlsplit(health.http).netloc if health.http else None)
        if target is None:
            return ""
        port = self._environment().get("PORT")
        given = f" (its PORT is {port})" if port and not target.endswith(f":{port}") else ""
        return f"; is it listening on {target}?{given}"


def one_line(output: str, width: int = 120) -> str:
    """A check's output for the log: its first non-empty line, cut to `width` (the whole output
    is in `pilot ctl status JOB`)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        return ""
    first = lines[0]
    if len(first) > width or len(lines) > 1:
        return first[: width - 1].rstrip() + "…"
    return first
