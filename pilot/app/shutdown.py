"""The shutdown sequence: shutdown event, deregistration and drain, pre-stop hooks, stop in
reverse start order, stopped event, leadership released, post-stop hooks; all bounded by the
global stop_timeout."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable

from pilot.app.triggers import Triggers
from pilot.events import GLOBAL, Code, EventBus
from pilot.log import Log
from pilot.process.job import Job


class Shutdown:
    """Runs the sequence once; `force()` (a second SIGTERM) skips to step 5, stop_timeout kills
    everything left."""

    def __init__(
        self,
        jobs: list[Job],
        bus: EventBus,
        triggers: Triggers,
        log: Log,
        stop_timeout: float,
        deregister: Callable[[], Awaitable[float]] | None = None,
        release: Callable[[], Awaitable[None]] | None = None,
        signum: int | None = None,
        announced: frozenset[Job] = frozenset(),
    ) -> None:
        """`deregister` (steps 1-2) takes the services out of Consul and returns how long to
        drain; `release` gives up leadership once the jobs are down. `signum` is the signal
        that asked for the shutdown: the jobs that list it in `forward` are stopped with it
        rather than with their stop signal. `announced` jobs already had their `stopping` and
        `stopped` (a ContainerPilot file's job, when it was over): not twice."""
        self._jobs, self._bus, self._triggers, self._log = jobs, bus, triggers, log
        self._announced = announced
        self._stop_timeout, self._signum = stop_timeout, signum
        self._forced = asyncio.Event()
        self._deregister, self._release = deregister, release

    async def run(self) -> None:
        """The whole sequence, never longer than stop_timeout (then everything is SIGKILLed)."""
        try:
            async with asyncio.timeout(self._stop_timeout):
                await self._sequence()
        except TimeoutError:
            self._log.warn(
                f"shutdown took longer than stop_timeout {self._stop_timeout:g}s, "
                "killing what is left"
            )
            self._kill_all()
            await self._wait_all_settled(timeout=2.0)

    def force(self) -> None:
        """Skip to step 5 (a second SIGTERM): SIGKILL what runs, skip what is left of the drain
        and the pre-stop hooks; `stopped` and the post-stop hooks still follow. Forcing again
        kills those too."""
        if self.forced:
            self._kill_all()
            return
        self._forced.set()
        for job in self._jobs:
            if job.state.active or job.name not in self._triggers.hooks:
                job.kill()

    @property
    def forced(self) -> bool:
        """Whether a second signal or the stop_timeout cut the sequence short."""
        return self._forced.is_set()

    def _kill_all(self) -> None:
        self._forced.set()
        for job in self._jobs:
            job.kill()

    async def _sequence(self) -> None:
        hooks = self._triggers.hooks
        workers = [job for job in self._jobs if job.name not in hooks]
        self._triggers.begin_shutdown()
        for job in workers:
            job.retire()  # no restarts, no new runs; a running process keeps running
        self._bus.publish(Code.SHUTDOWN, GLOBAL)
        if self._deregister is not None:
            drain = await self._deregister()  # steps 1-2: out of Consul first, then drain
            if drain > 0 and not self.forced:
                self._log.info(f"draining for {drain:g}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._forced.wait(), drain)
        if not self.forced:
            for job in workers:
                if job not in self._announced:
                    self._bus.publish(Code.STOPPING, job.name)
            await self._wait_hooks()
        running = sorted(
            (job for job in workers if job.state.active),
            key=lambda job: job.start_seq,
            reverse=True,
        )
        for _, batch in itertools.groupby(running, key=lambda job: job.start_seq):
            await asyncio.gather(*(job.stop(self._stop_signal(job)) for job in batch))
        for job in workers:
            await job.stop()  # jobs in backoff or exited end as STOPPED
            if job not in self._announced:
                self._bus.publish(Code.STOPPED, job.name)
        if self._release is not None:
            await self._release()  # leadership goes only once this instance's jobs are down
        await self._wait_hooks()

    def _stop_signal(self, job: Job) -> int | None:
        return self._signum if self._signum in job.config.forward else None

    async def _wait_hooks(self) -> None:
        hooks = [job for job in self._jobs if job.name in self._triggers.hooks]
        await asyncio.gather(*(job.wait_settled() for job in hooks))

    async def _wait_all_settled(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(job.wait_settled() for job in self._jobs))
        except TimeoutError:
            self._log.error("some jobs did not die after SIGKILL")
