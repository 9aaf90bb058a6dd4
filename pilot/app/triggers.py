"""Turns events and timers into job starts, following each job's `when`."""

from __future__ import annotations

import asyncio
import math

from pilot.events import ELECTION_CODES, GLOBAL, SHUTDOWN_CODES, SIGNAL_SOURCES, Event, EventBus
from pilot.log import Log
from pilot.process.job import Job

EXTERNAL_SOURCES = frozenset({GLOBAL, *SIGNAL_SOURCES})


class Triggers:
    """Starts jobs when their `when` says: once or each event, all of several events, an
    interval, or a timeout."""

    def __init__(self, bus: EventBus, jobs: dict[str, Job], log: Log) -> None:
        self._bus, self._jobs, self._log = bus, jobs, log
        self._loop = asyncio.get_running_loop()
        self._fired: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self.hooks = self._shutdown_hooks()
        self._shutting_down = False
        bus.subscribe(self._on_event)

    def arm(self, job: Job) -> None:
        """Watch for `job`'s trigger; `once` events that already happened start it now."""
        when = job.config.when
        if when.interval is not None:
            self._tick(job, self._loop.time(), 0)
            return
        if not when.each:
            happened = self._happened(job)
            if happened is not None:
                self._fire(job, happened)
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

    def begin_shutdown(self) -> None:
        """From now on only shutdown hooks start; every timer is cancelled."""
        self._shutting_down = True
        self.disarm_all()

    def disarm_all(self) -> None:
        """Cancel every timer: periodic runs and `when.timeout`s."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def may_start_later(self, job: Job, seen: frozenset[str] = frozenset()) -> bool:
        """Whether something could still start `job`: its trigger has not fired for good, and
        every event it still waits for comes from outside pilot, from an election, or from a
        job that is running or may start later."""
        when = job.config.when
        if when.interval is not None:
            return job.name in self._timers
        if (not when.each and job.name in self._fired) or not job.accepts_runs:
            return False
        pending = [
            (source, codes)
            for source, codes in when.events
            if when.each or self._last(source, codes) is None
        ]
        return all(self._may_emit(job, source, codes, seen) for source, codes in pending)

    def waits(self, job: Job) -> bool:
        """Whether `job` waits for its event as ContainerPilot counts it: an `each`, or a `once`
        that has not fired (even if nothing can fire it any more) nor timed out."""
        when = job.config.when
        return when.interval is None and (bool(when.each) or job.name not in self._fired)

    def _may_emit(
        self, job: Job, source_name: str, codes: tuple[str, ...], seen: frozenset[str]
    ) -> bool:
        if source_name in EXTERNAL_SOURCES or source_name not in self._jobs:
            return True
        source = self._jobs[source_name]
        if source.state.active:
            return True
        if source.config.leader is not None and ELECTION_CODES.intersection(codes):
            return True  # elections run whether or not their job's process does
        return job.name not in seen and self.may_start_later(source, seen | {job.name})

    def _on_event(self, event: Event, seq: int) -> None:
        for job in self._jobs.values():
            when = job.config.when
            if not any(
                source == event.source and event.code in codes for source, codes in when.events
            ):
                continue
            if not when.each and job.name in self._fired:
                continue
            if self._shutting_down and job.name not in self.hooks:
                continue
            if when.all is not None and self._happened(job) is None:
                continue  # some of the events it waits for have not happened yet
            self._fire(job, seq)

    def _happened(self, job: Job) -> int | None:
        """The sequence number of the latest of the events `job` waits for, once every one of
        them has happened; else None."""
        seqs = [self._last(source, codes) for source, codes in job.config.when.events]
        if not seqs or None in seqs:
            return None
        return max(seq for seq in seqs if seq is not None)

    def _last(self, source: str, codes: tuple[str, ...]) -> int | None:
        seen = [self._bus.last_seen(code, source) for code in codes]
        happened = [seq for seq in seen if seq is not None]
        return max(happened) if happened else None

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
        waited = " and ".join(f"{source}.{'|'.join(codes)}" for source, codes in when.events)
        self._log.warn(
            f"{job.name}: gave up waiting for {waited} after {when.timeout:g}s", job=job.name
        )
        job.give_up()

    def _tick(self, job: Job, due: float, seq: int) -> None:
        if self._shutting_down:
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
                if job.name in hooks or job.config.when.interval is not None:
                    continue
                if any(
                    SHUTDOWN_CODES.intersection(codes) or source in hooks
                    for source, codes in job.config.when.events
                ):
                    hooks.add(job.name)
                    changed = True
        return frozenset(hooks)
