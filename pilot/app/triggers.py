"""Turns events and timers into job starts, following each job's `when`."""

from __future__ import annotations

import asyncio
import math

from pilot.events import ELECTION_CODES, GLOBAL, SHUTDOWN_CODES, SIGNAL_SOURCES, Event, EventBus
from pilot.log import Log
from pilot.process.job import Job

EXTERNAL_SOURCES = frozenset({GLOBAL, *SIGNAL_SOURCES})


class Triggers:
    """Starts jobs when their `when` says: once or each event, an interval, or a timeout."""

    def __init__(self, bus: EventBus, jobs: dict[str, Job], log: Log) -> None:
        self._bus, self._jobs, self._log = bus, jobs, log
        self._loop = asyncio.get_running_loop()
        self._fired: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.hooks = self._shutdown_hooks()
        self.shutting_down = False
        bus.subscribe(self._on_event)

    def arm(self, job: Job) -> None:
        """Watch for `job`'s trigger; a `once` event that already happened starts it now."""
        when = job.config.when
        if when.interval is not None:
            self._tick(job, self._loop.time(), 0)
            return
        assert when.source is not None and when.codes
        seen = [self._bus.last_seen(code, when.source) for code in when.codes]
        happened = [seq for seq in seen if seq is not None]
        if when.once and happened:
            self._fire(job, max(happened))
            return
        if when.timeout is not None:
            self._timers[job.name] = self._loop.call_later(when.timeout, self._expire, job)

    def replace_jobs(self, jobs: dict[str, Job]) -> None:
        """After a reload: forget what concerned jobs that were replaced or removed."""
        for name in list(self._fired | set(self._timers)):
            if self._jobs.get(name) is not jobs.get(name):
                self._fired.discard(name)
                timer = self._timers.pop(name, None)
                if timer is not None:
                    timer.cancel()
        self._jobs = jobs
        self.hooks = self._shutdown_hooks()

    def disarm_all(self) -> None:
        """Cancel every timer: periodic runs and `when.timeout`s."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def may_start_later(self, job: Job, seen: frozenset[str] = frozenset()) -> bool:
        """Whether something could still start `job`: its trigger has not fired for good and
        its source is outside pilot, periodic, or a job that is running or may start later."""
        when = job.config.when
        if when.interval is not None:
            return job.name in self._timers
        if (when.once and job.name in self._fired) or not job.accepts_runs:
            return False
        if when.source in EXTERNAL_SOURCES or when.source not in self._jobs:
            return True
        source = self._jobs[when.source]
        if source.state.active:
            return True
        if source.config.leader is not None and ELECTION_CODES.intersection(when.codes):
            return True  # elections run whether or not their job's process does
        return job.name not in seen and self.may_start_later(source, seen | {job.name})

    def _on_event(self, event: Event, seq: int) -> None:
        for job in self._jobs.values():
            when = job.config.when
            if when.source != event.source or event.code not in when.codes:
                continue
            if when.once and job.name in self._fired:
                continue
            if self.shutting_down and job.name not in self.hooks:
                continue
            self._fire(job, seq)

    def _fire(self, job: Job, seq: int) -> None:
        self._fired.add(job.name)
        timer = self._timers.pop(job.name, None)
        if timer is not None:
            timer.cancel()
        job.trigger(seq)

    def _expire(self, job: Job) -> None:
        self._timers.pop(job.name, None)
        self._fired.add(job.name)
        when = job.config.when
        self._log.warn(
            f"{job.name}: gave up waiting for {when.source}.{'|'.join(when.codes)} "
            f"after {when.timeout:g}s"
        )
        job.give_up()

    def _tick(self, job: Job, due: float, seq: int) -> None:
        if self.shutting_down:
            return
        job.trigger(seq)
        interval = job.config.when.interval
        assert interval is not None
        if job.runs > job.config.max_restarts:
            self._timers.pop(job.name, None)
            return
        now = self._loop.time()
        following = due + interval
        if following <= now:  # the loop was late: skip missed ticks rather than bunch them
            following += (math.floor((now - following) / interval) + 1) * interval
        self._timers[job.name] = self._loop.call_at(following, self._tick, job, following, seq)

    def _shutdown_hooks(self) -> frozenset[str]:
        """Jobs that run during shutdown: started by shutdown/stopping/stopped, or by such a job."""
        hooks: set[str] = set()
        changed = True
        while changed:
            changed = False
            for job in self._jobs.values():
                when = job.config.when
                if job.name in hooks or when.interval is not None:
                    continue
                if SHUTDOWN_CODES.intersection(when.codes) or when.source in hooks:
                    hooks.add(job.name)
                    changed = True
        return frozenset(hooks)
