"""The job state machine (pilot/process/job.py) on a fake clock, with fake processes.

Nothing here sleeps or starts a process: time moves only through `FakeClock.advance`, the
spawner hands out `FakeProcess` objects, exits arrive through `FakeReaper.deliver` as raw wait
statuses, and `FakeGroups` (the signaller) records the signals. Each test is an `async def` run
by `asyncio.run`, because the job's `asyncio.Event`s need a running loop; `yield_to_loop()` only
lets other tasks run, no time passes. Every state change is recorded (through the
`check_transition` that job.py calls), and the last tests check that the others reach every
transition of `ALLOWED`.
"""

from __future__ import annotations

import asyncio
import io
import signal
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import pytest

import pilot.process.job as job_module
from pilot.config.load import parse_config
from pilot.log import Log
from pilot.process.job import Job
from pilot.process.spawn import SpawnError, SpawnRequest
from pilot.process.states import ALLOWED, JobState, check_transition

S = JobState
SIGTERM, SIGKILL, SIGINT = signal.SIGTERM, signal.SIGKILL, signal.SIGINT
EPS = 2**-10  # a step of time that floats add exactly


def exited(code: int) -> int:
    """The raw wait status of a process that exited with `code`."""
    return code << 8


def killed(signum: int) -> int:
    """The raw wait status of a process killed by `signum`."""
    return int(signum)


# The fakes: a clock, processes, the spawner, the reaper and the signaller.


@dataclass
class FakeTimer:
    when: float
    order: int
    callback: Callable[..., object]
    args: tuple[Any, ...]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Monotonic time that moves only through `advance`, which fires due timers in order."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._timers: list[FakeTimer] = []
        self._order = 0

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> FakeTimer:
        self._order += 1
        timer = FakeTimer(self.now + max(delay, 0.0), self._order, callback, args)
        self._timers.append(timer)
        return timer

    def pending(self) -> list[FakeTimer]:
        """Timers not yet fired nor cancelled, the next one first."""
        live = [t for t in self._timers if not t.cancelled]
        return sorted(live, key=lambda t: (t.when, t.order))

    def advance(self, seconds: float) -> None:
        """Move time on by `seconds`, firing every timer due by then (also those they set)."""
        end = self.now + seconds
        while True:
            due = [t for t in self.pending() if t.when <= end]
            if not due:
                break
            timer = due[0]
            self._timers.remove(timer)
            self.now = max(self.now, timer.when)
            timer.callback(*timer.args)
        self.now = end


@dataclass
class FakeProcess:
    pid: int
    returncode: int | None = None
    stdout: IO[bytes] | None = None
    stderr: IO[bytes] | None = None


class FakeGroups:
    """The signaller: process groups that are alive; signals to a dead one raise
    ProcessLookupError, as `os.killpg` does (so `signal 0` probes find it gone)."""

    def __init__(self) -> None:
        self.alive: set[int] = set()
        self.delivered: list[tuple[int, int]] = []  # (group, signal), probes left out

    def __call__(self, pgid: int, signum: int) -> None:
        if pgid not in self.alive:
            raise ProcessLookupError(pgid)
        if signum != 0:
            self.delivered.append((pgid, signum))


class FakeSpawner:
    """Starts fake processes, each in a live group of its own; `fail(n)` makes the next `n`
    spawns raise SpawnError."""

    def __init__(self, groups: FakeGroups) -> None:
        self.groups = groups
        self.requests: list[SpawnRequest] = []
        self.processes: list[FakeProcess] = []
        self._failures: list[SpawnError] = []
        self._next_pid = 100

    def fail(self, times: int = 1, code: int = 127) -> None:
        error = SpawnError("cannot run app: No such file or directory", code)
        self._failures.extend([error] * times)

    def __call__(self, request: SpawnRequest) -> FakeProcess:
        self.requests.append(request)
        if self._failures:
            raise self._failures.pop(0)
        process = FakeProcess(self._next_pid)
        self._next_pid += 1
        self.groups.alive.add(process.pid)
        self.processes.append(process)
        return process


class FakeReaper:
    """Records the pids the job watches; `deliver` hands one its wait status."""

    def __init__(self) -> None:
        self.watched: list[int] = []
        self._callbacks: dict[int, Callable[[int], None]] = {}

    def watch(self, pid: int, callback: Callable[[int], None]) -> None:
        self.watched.append(pid)
        self._callbacks[pid] = callback

    def deliver(self, pid: int, status: int) -> None:
        self._callbacks.pop(pid)(status)


# Every transition job.py makes, as checked through `check_transition`.
TRANSITIONS: list[tuple[JobState, JobState]] = []


@pytest.fixture(autouse=True)
def record_transitions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Record every state change the job checks (an illegal one still raises TransitionError)."""

    def checked(old: JobState, new: JobState) -> None:
        check_transition(old, new)
        TRANSITIONS.append((old, new))

    monkeypatch.setattr(job_module, "check_transition", checked)
    yield


@dataclass
class Harness:
    """One Job built from a JSON5 job object, on the fakes."""

    job_text: str
    clock: FakeClock = field(default_factory=FakeClock)
    groups: FakeGroups = field(default_factory=FakeGroups)
    reaper: FakeReaper = field(default_factory=FakeReaper)
    events: list[tuple[str, str]] = field(default_factory=list)
    settled: int = 0
    log_text: io.StringIO = field(default_factory=io.StringIO)

    def __post_init__(self) -> None:
        config = parse_config("{jobs: [" + self.job_text + "]}", environ={})
        self.spawner = FakeSpawner(self.groups)
        self._first = len(TRANSITIONS)
        self.job = Job(
            config.jobs[0],
            self.reaper,
            lambda code, source: self.events.append((code, source)),
            lambda cfg: {"JOB": cfg.name},
            Log("error", stdout=self.log_text, stderr=self.log_text),
            self._on_settled,
            clock=self.clock,
            spawner=self.spawner,
            signaller=self.groups,
        )

    def _on_settled(self, job: Job) -> None:
        assert job is self.job
        self.settled += 1

    @property
    def states(self) -> list[JobState]:
        """The states the job went through, in order (its first state, STOPPED, left out)."""
        return [new for _, new in TRANSITIONS[self._first :]]

    @property
    def state(self) -> JobState:
        return self.job.statistics().state

    @property
    def process(self) -> FakeProcess:
        """The process of the latest run."""
        return self.spawner.processes[-1]

    @property
    def spawns(self) -> int:
        """How many runs were attempted (spawn failures included)."""
        return len(self.spawner.requests)

    def signals(self, process: FakeProcess | None = None) -> list[int]:
        """Signals delivered to the group of `process` (default: the latest run's)."""
        pid = (process or self.process).pid
        return [signum for group, signum in self.groups.delivered if group == pid]

    def exit(self, status: int, *, after: float = 0.0, leftover_group: bool = False) -> None:
        """After `after` more seconds, the latest run's process exits with wait `status`; the
        rest of its group is gone too unless `leftover_group`."""
        if after:
            self.clock.advance(after)
        process = self.process
        if not leftover_group:
            self.groups.alive.discard(process.pid)
        self.reaper.deliver(process.pid, status)

    def restart_delay(self) -> float:
        """The delay of the pending restart, checked: no new run just before it, one at it."""
        assert self.state is S.BACKOFF
        spawns = self.spawns
        delay = self.clock.pending()[0].when - self.clock.now
        self.clock.advance(delay - EPS)
        assert (self.state, self.spawns) == (S.BACKOFF, spawns)
        self.clock.advance(EPS)
        assert self.spawns == spawns + 1
        return delay


async def yield_to_loop() -> None:
    """Let the other tasks run until they wait; no time passes."""
    for _ in range(3):
        await asyncio.sleep(0)


async def begin(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run `coroutine` as a task until it waits (for the process to exit)."""
    task = asyncio.create_task(coroutine)
    await yield_to_loop()
    return task


def app(extra: str = "") -> str:
    """A JSON5 job object: the job `app` running `app --serve`, plus `extra` fields."""
    return '{name: "app", exec: "app --serve", ' + extra + "}"


FAST_BACKOFF = 'backoff: {initial: "1s", max: "8s", reset: "10s"}'
RESTARTING = app(f'restarts: "unlimited", {FAST_BACKOFF}, stop: {{timeout: "5s"}}')
PERIODIC = '{name: "tick", exec: "tick", when: {interval: "10s"}'

Scenario = Callable[[], Coroutine[Any, Any, None]]
SCENARIOS: list[Scenario] = []


def as_test(scenario: Scenario) -> Callable[[], None]:
    """A plain pytest test running `scenario` under `asyncio.run`."""

    def test() -> None:
        asyncio.run(scenario())

    test.__name__ = test.__qualname__ = scenario.__name__
    test.__doc__ = scenario.__doc__
    return test


def on_loop(scenario: Scenario) -> Callable[[], None]:
    """A test of the state machine; the coverage tests re-run it to collect its transitions."""
    SCENARIOS.append(scenario)
    return as_test(scenario)


# Runs, exits and exit codes.


@on_loop
async def test_a_trigger_spawns_the_command_and_the_job_runs() -> None:
    """trigger() spawns the job's argv with its environment, watches the pid, and is RUNNING."""
    h = Harness(app())
    h.job.trigger(7)
    assert h.states == [S.STARTING, S.RUNNING]
    request = h.spawner.requests[0]
    assert request.argv == ("app", "--serve") and dict(request.env) == {"JOB": "app"}
    stats = h.job.statistics()
    assert (stats.pid, stats.runs, stats.restarts, stats.last_exit) == (h.process.pid, 1, 0, None)
    assert h.reaper.watched == [h.process.pid]
    assert h.job.start_seq == 7
    assert h.events == [("started", "app")] and h.settled == 0


@on_loop
async def test_a_run_that_succeeds_without_restarts_ends_exited_and_settles() -> None:
    """Exit 0 of a job without restarts: EXITED, exitSuccess, no pid, settled once, no timer."""
    h = Harness(app())
    h.job.trigger(1)
    h.exit(exited(0), after=3.0)
    assert h.states == [S.STARTING, S.RUNNING, S.EXITED]
    stats = h.job.statistics()
    assert (stats.pid, stats.last_exit) == (None, 0)
    assert h.process.returncode == 0
    assert h.events[-1] == ("exitSuccess", "app") and h.settled == 1
    assert h.clock.pending() == []


@on_loop
async def test_exit_codes_are_recorded_as_a_shell_reports_them() -> None:
    """A run exiting 3 records 3 and exitFailed; one killed by SIGKILL records 128 + 9."""
    for status, code in ((exited(3), 3), (killed(SIGKILL), 137)):
        h = Harness(app())
        h.job.trigger(1)
        h.exit(status)
        assert h.state is S.EXITED and h.job.statistics().last_exit == code
        assert h.events[-1] == ("exitFailed", "app")


@on_loop
async def test_restart_on_failure_restarts_only_runs_outside_success_codes() -> None:
    """With restart_on "failure" and success_codes [0, 3]: exit 1 restarts, exit 3 ends EXITED."""
    h = Harness(
        app(f'restarts: "unlimited", restart_on: "failure", success_codes: [0, 3], {FAST_BACKOFF}')
    )
    h.job.trigger(1)
    h.exit(exited(1))
    assert h.events[-1] == ("exitFailed", "app")
    assert h.restart_delay() == 1.0
    h.exit(exited(3))
    assert h.states == [S.STARTING, S.RUNNING, S.BACKOFF, S.STARTING, S.RUNNING, S.EXITED]
    assert h.events[-1] == ("exitSuccess", "app") and h.settled == 1


# Backoff.


@on_loop
async def test_failed_runs_restart_after_delays_doubling_from_initial_to_max() -> None:
    """Short failed runs are restarted after 1, 2, 4, 8, 8 s (initial 1s, max 8s)."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    delays = []
    for _ in range(5):
        h.exit(exited(1), after=0.5)
        delays.append(h.restart_delay())
        assert h.state is S.RUNNING
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    stats = h.job.statistics()
    assert (stats.runs, stats.restarts) == (6, 5)
    assert h.states[:6] == [S.STARTING, S.RUNNING, S.BACKOFF, S.STARTING, S.RUNNING, S.BACKOFF]
    assert h.settled == 0


@on_loop
async def test_a_run_lasting_backoff_reset_brings_the_delay_back_to_initial() -> None:
    """After delays 1, 2, 4, a run of exactly `reset` (10s) gets 1 again; a 9.5s run does not."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    delays = []
    for uptime in (0.5, 0.5, 0.5, 10.0, 0.5, 9.5):
        h.exit(exited(1), after=uptime)
        delays.append(h.restart_delay())
    assert delays == [1.0, 2.0, 4.0, 1.0, 2.0, 4.0]


@on_loop
async def test_a_restart_count_limits_the_restarts_then_the_job_ends_exited() -> None:
    """restarts: 2 allows two restarts; the third failure ends the job EXITED and settled."""
    h = Harness(app(f"restarts: 2, {FAST_BACKOFF}"))
    h.job.trigger(1)
    h.exit(exited(1))
    h.restart_delay()
    h.exit(exited(1))
    h.restart_delay()
    h.exit(exited(1))
    assert h.state is S.EXITED and h.settled == 1
    stats = h.job.statistics()
    assert (stats.runs, stats.restarts, stats.last_exit) == (3, 2, 1)
    h.clock.advance(60.0)
    assert h.spawns == 3


@on_loop
async def test_a_new_trigger_restores_the_restart_budget_and_resets_the_backoff() -> None:
    """After restarts: 1 ran out, a trigger runs the job again with one restart, delay initial."""
    h = Harness(app(f"restarts: 1, {FAST_BACKOFF}"))
    h.job.trigger(1)
    h.exit(exited(1))
    assert h.restart_delay() == 1.0
    h.exit(exited(1))
    assert h.state is S.EXITED
    h.job.trigger(2)
    assert h.states[-3:] == [S.EXITED, S.STARTING, S.RUNNING]
    h.exit(exited(1))
    assert h.restart_delay() == 1.0  # not 2: the trigger reset the backoff
    h.exit(exited(1))
    assert h.state is S.EXITED and h.job.statistics().runs == 4


# The queued run (a trigger while running).


@on_loop
async def test_triggers_while_running_queue_exactly_one_more_run() -> None:
    """Three triggers during a run start exactly one more run once it is over, never more."""
    h = Harness(app())
    h.job.trigger(1)
    h.job.trigger(2)
    h.job.trigger(3)
    assert h.spawns == 1
    h.exit(exited(0), after=1.0)
    assert h.states == [S.STARTING, S.RUNNING, S.EXITED, S.STARTING, S.RUNNING]
    assert h.settled == 0
    h.exit(exited(0), after=1.0)
    h.clock.advance(60.0)
    assert h.spawns == 2 and h.state is S.EXITED and h.settled == 1


@on_loop
async def test_wait_settled_waits_for_the_queued_run_too() -> None:
    """wait_settled() returns only once the queued run has ended as well."""
    h = Harness(app())
    h.job.trigger(1)
    h.job.trigger(2)
    waiter = await begin(h.job.wait_settled())
    h.exit(exited(0))
    await yield_to_loop()
    assert not waiter.done() and h.state is S.RUNNING
    h.exit(exited(0))
    await yield_to_loop()
    assert waiter.done()


@on_loop
async def test_a_restart_replaces_a_queued_run() -> None:
    """A restart during a run with a queued trigger starts one new run, not two."""
    h = Harness(app())
    h.job.trigger(1)
    h.job.trigger(2)
    task = await begin(h.job.restart())
    h.exit(killed(SIGTERM))
    await task
    h.clock.advance(0.0)
    h.exit(exited(0))
    h.clock.advance(60.0)
    assert h.spawns == 2 and h.state is S.EXITED


@on_loop
async def test_a_trigger_during_a_restart_neither_cancels_it_nor_adds_a_run() -> None:
    """A trigger while restart() stops the run: the restart's new run is the only one."""
    h = Harness(app())
    h.job.trigger(1)
    task = await begin(h.job.restart())
    h.job.trigger(2)
    h.exit(killed(SIGTERM))
    await task
    h.clock.advance(0.0)
    assert h.state is S.RUNNING and h.spawns == 2
    h.exit(exited(0))
    h.clock.advance(60.0)
    assert h.spawns == 2 and h.state is S.EXITED


@on_loop
async def test_hold_drops_a_queued_run() -> None:
    """hold() during a run with a queued trigger ends the job STOPPED with no further run."""
    h = Harness(app())
    h.job.trigger(1)
    h.job.trigger(2)
    task = await begin(h.job.hold())
    h.exit(killed(SIGTERM))
    await task
    h.clock.advance(60.0)
    assert h.spawns == 1 and h.state is S.STOPPED and h.settled == 1


# restart(): the ctl-style restart.


@on_loop
async def test_restart_stops_the_run_with_its_stop_signal_then_starts_the_next_at_once() -> None:
    """restart(): STOPPING and the stop signal; on exit STOPPED, and a new run with no delay."""
    h = Harness(app(f'restarts: "unlimited", {FAST_BACKOFF}, stop: {{signal: "SIGINT"}}'))
    h.job.trigger(1)
    first = h.process
    task = await begin(h.job.restart())
    assert h.state is S.STOPPING and h.signals() == [SIGINT]
    assert not task.done()
    h.exit(killed(SIGINT), after=2.0)
    await yield_to_loop()
    assert task.done() and h.state is S.STOPPED
    h.clock.advance(0.0)
    assert h.states == [S.STARTING, S.RUNNING, S.STOPPING, S.STOPPED, S.STARTING, S.RUNNING]
    assert h.process is not first
    stats = h.job.statistics()
    assert (stats.runs, stats.restarts, stats.last_exit) == (2, 0, 130)
    assert h.settled == 0


@on_loop
async def test_a_restart_that_overruns_stop_timeout_is_sigkilled_and_still_restarts() -> None:
    """A restart whose process ignores SIGTERM: SIGKILL at stop.timeout (5s), then the new run."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    first = h.process
    task = await begin(h.job.restart())
    h.clock.advance(5.0 - EPS)
    assert h.signals() == [SIGTERM]
    h.clock.advance(EPS)
    assert h.signals() == [SIGTERM, SIGKILL] and h.state is S.STOPPING
    h.exit(killed(SIGKILL))
    await task
    h.clock.advance(0.0)
    assert h.state is S.RUNNING and h.process is not first
    assert h.job.statistics().last_exit == 137
    h.clock.advance(60.0)
    assert h.signals() == []  # nothing of the old stop sequence reaches the new run


@on_loop
async def test_the_stop_sequence_ends_with_a_prompt_exit() -> None:
    """A process that exits on SIGTERM is not SIGKILLed later, nor is the run after it."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    first = h.process
    task = await begin(h.job.restart())
    h.exit(killed(SIGTERM))
    await task
    h.clock.advance(0.0)
    h.clock.advance(30.0)
    assert h.signals(first) == [SIGTERM] and h.signals() == []


@on_loop
async def test_restart_during_backoff_starts_at_once_and_cancels_the_pending_restart() -> None:
    """restart() in BACKOFF starts the run now; the backoff timer no longer starts another."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    h.exit(exited(1))
    await h.job.restart()
    assert h.states[-3:] == [S.BACKOFF, S.STARTING, S.RUNNING]
    h.clock.advance(30.0)
    assert h.spawns == 2


@on_loop
async def test_restart_of_a_job_that_is_not_running_starts_a_run() -> None:
    """restart() of a never-started, an exited or a fatal job starts a run right away."""
    h = Harness(app())
    await h.job.restart()
    assert h.states == [S.STARTING, S.RUNNING]
    h.exit(exited(0))
    await h.job.restart()
    assert h.states[-3:] == [S.EXITED, S.STARTING, S.RUNNING]
    h.exit(exited(0))
    h.spawner.fail()
    await h.job.restart()
    assert h.states[-2:] == [S.STARTING, S.FATAL]
    await h.job.restart()
    assert h.states[-3:] == [S.FATAL, S.STARTING, S.RUNNING]


# hold() and release().


@on_loop
async def test_hold_stops_the_run_and_nothing_starts_it_until_release() -> None:
    """hold(): stop sequence, STOPPED, triggers and restarts ignored; release() runs it again."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    task = await begin(h.job.hold())
    assert h.state is S.STOPPING and h.signals() == [SIGTERM]
    h.exit(killed(SIGTERM))
    await task
    assert h.state is S.STOPPED and h.job.held and h.settled == 1
    h.job.trigger(2)
    await h.job.restart()
    h.clock.advance(60.0)
    assert h.spawns == 1 and h.state is S.STOPPED
    h.job.release()
    assert not h.job.held and h.state is S.RUNNING and h.spawns == 2
    assert h.states == [S.STARTING, S.RUNNING, S.STOPPING, S.STOPPED, S.STARTING, S.RUNNING]


@on_loop
async def test_hold_cancels_a_pending_restart() -> None:
    """hold() in BACKOFF: STOPPED at once, the restart never comes; release() starts a run."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    h.exit(exited(1))
    await h.job.hold()
    assert h.states[-2:] == [S.BACKOFF, S.STOPPED] and h.settled == 1
    h.clock.advance(60.0)
    assert h.spawns == 1
    h.job.release()
    assert h.state is S.RUNNING and h.spawns == 2


@on_loop
async def test_hold_ends_a_fatal_job_stopped_and_release_retries_it() -> None:
    """hold() of a FATAL job makes it STOPPED; release() tries to spawn it again."""
    h = Harness(app())
    h.spawner.fail()
    h.job.trigger(1)
    await h.job.hold()
    assert h.states == [S.STARTING, S.FATAL, S.STOPPED]
    h.job.release()
    assert h.states[-2:] == [S.STARTING, S.RUNNING]


@on_loop
async def test_release_of_a_running_job_starts_no_second_run() -> None:
    """release() while a run is going leaves it alone."""
    h = Harness(app())
    h.job.trigger(1)
    h.job.release()
    assert h.spawns == 1 and h.state is S.RUNNING


# retire(), stop(), kill(), give_up().


@on_loop
async def test_retire_lets_the_running_process_finish_and_nothing_restarts_it() -> None:
    """retire() signals nothing; the run's exit ends the job EXITED despite unlimited restarts."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    h.job.retire()
    assert h.state is S.RUNNING and h.signals() == []
    h.exit(exited(1))
    assert h.state is S.EXITED and h.settled == 1
    h.job.trigger(2)
    await h.job.restart()
    h.clock.advance(60.0)
    assert h.spawns == 1


@on_loop
async def test_retire_during_backoff_cancels_the_restart_and_ends_stopped() -> None:
    """retire() in BACKOFF: STOPPED and settled at once, no restart later."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    h.exit(exited(1))
    h.job.retire()
    assert h.states[-2:] == [S.BACKOFF, S.STOPPED] and h.settled == 1
    h.clock.advance(60.0)
    assert h.spawns == 1


@on_loop
async def test_stop_sends_the_stop_signal_and_ends_the_job_stopped_for_good() -> None:
    """stop(): STOPPING with SIGTERM, STOPPED on exit; no trigger or restart runs it again."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    task = await begin(h.job.stop())
    assert h.state is S.STOPPING and h.signals() == [SIGTERM] and not task.done()
    h.exit(killed(SIGTERM))
    await yield_to_loop()
    assert task.done() and h.state is S.STOPPED and h.settled == 1
    assert h.job.statistics().last_exit == 143
    h.job.trigger(2)
    await h.job.restart()
    h.clock.advance(60.0)
    assert h.spawns == 1 and h.state is S.STOPPED


@on_loop
async def test_a_stop_that_overruns_stop_timeout_is_sigkilled() -> None:
    """A process ignoring SIGTERM gets SIGKILL exactly stop.timeout (5s) later."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    task = await begin(h.job.stop())
    h.clock.advance(5.0 - EPS)
    assert h.signals() == [SIGTERM]
    h.clock.advance(EPS)
    assert h.signals() == [SIGTERM, SIGKILL]
    h.exit(killed(SIGKILL))
    await task
    assert h.state is S.STOPPED and h.job.statistics().last_exit == 137


@on_loop
async def test_stop_ends_an_exited_job_stopped_and_release_undoes_it() -> None:
    """stop() of an EXITED job makes it STOPPED; release() accepts runs again and starts one."""
    h = Harness(app())
    h.job.trigger(1)
    h.exit(exited(0))
    await h.job.stop()
    assert h.states[-2:] == [S.EXITED, S.STOPPED]
    h.job.release()
    assert h.states[-2:] == [S.STARTING, S.RUNNING]


@on_loop
async def test_kill_sigkills_the_group_and_nothing_restarts_the_job() -> None:
    """kill(): SIGKILL to the group now; its exit ends the job EXITED, unlimited restarts or not."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    h.job.kill()
    assert h.signals() == [SIGKILL] and h.state is S.RUNNING
    h.exit(killed(SIGKILL))
    assert h.state is S.EXITED and h.job.statistics().last_exit == 137 and h.settled == 1
    h.job.trigger(2)
    h.clock.advance(60.0)
    assert h.spawns == 1


@on_loop
async def test_give_up_makes_a_job_that_never_ran_fatal_for_good() -> None:
    """give_up(): FATAL, exitFailed, settled; a later trigger does not run it."""
    h = Harness(app())
    h.job.give_up()
    assert h.states == [S.FATAL]
    assert h.events == [("exitFailed", "app")] and h.settled == 1
    h.job.trigger(1)
    await h.job.restart()
    assert h.spawns == 0 and h.state is S.FATAL


# Run timeout.


@on_loop
async def test_a_run_past_its_timeout_gets_the_stop_signal_and_counts_as_failed() -> None:
    """At `timeout` (30s) the run gets SIGTERM (still RUNNING: not a stop); its exit restarts it."""
    h = Harness(app(f'timeout: "30s", restarts: "unlimited", {FAST_BACKOFF}'))
    h.job.trigger(1)
    h.clock.advance(30.0 - EPS)
    assert h.signals() == []
    h.clock.advance(EPS)
    assert h.signals() == [SIGTERM] and h.state is S.RUNNING
    h.exit(killed(SIGTERM))
    assert h.state is S.BACKOFF and h.events[-1] == ("exitFailed", "app")
    assert h.job.statistics().last_exit == 143


@on_loop
async def test_a_timed_out_run_ignoring_its_stop_signal_is_sigkilled_after_stop_timeout() -> None:
    """A run past `timeout` that ignores SIGTERM gets SIGKILL stop.timeout (5s) later."""
    h = Harness(app('timeout: "30s", stop: {timeout: "5s"}'))
    h.job.trigger(1)
    h.clock.advance(30.0)
    h.clock.advance(5.0 - EPS)
    assert h.signals() == [SIGTERM]
    h.clock.advance(EPS)
    assert h.signals() == [SIGTERM, SIGKILL]
    h.exit(killed(SIGKILL))
    assert h.state is S.EXITED and h.job.statistics().last_exit == 137


@on_loop
async def test_the_timeout_of_a_run_that_ended_does_not_reach_the_next_run() -> None:
    """A run ending before its timeout cancels it: the next run is not signalled at that time."""
    h = Harness(app(f'timeout: "30s", restarts: "unlimited", {FAST_BACKOFF}'))
    h.job.trigger(1)
    h.exit(exited(1), after=10.0)
    h.restart_delay()  # the next run starts at 11s, its own timeout is due at 41s
    h.clock.advance(29.0)
    assert h.groups.delivered == []


# Periodic jobs.


@on_loop
async def test_a_periodic_job_waits_between_runs_without_backoff() -> None:
    """A periodic run's exit, success or failure, leaves it WAITING for the next tick."""
    h = Harness(PERIODIC + "}")
    h.job.trigger(1)
    h.exit(exited(0), after=2.0)
    assert h.state is S.WAITING and h.settled == 1 and h.clock.pending() == []
    h.job.trigger(2)
    h.exit(exited(1), after=2.0)
    assert h.states == [S.STARTING, S.RUNNING, S.WAITING, S.STARTING, S.RUNNING, S.WAITING]
    stats = h.job.statistics()
    assert (stats.runs, stats.restarts, stats.last_exit) == (2, 0, 1)


@on_loop
async def test_a_periodic_job_ends_exited_after_its_last_allowed_run() -> None:
    """restarts: 2 on a periodic job allows three runs; after the third it is EXITED for good."""
    h = Harness(PERIODIC + ", restarts: 2}")
    for seq in (1, 2, 3):
        h.job.trigger(seq)
        h.exit(exited(0))
    assert h.states[-4:] == [S.WAITING, S.STARTING, S.RUNNING, S.EXITED]
    assert h.states.count(S.WAITING) == 2
    h.job.trigger(4)
    assert h.spawns == 3 and h.state is S.EXITED


@on_loop
async def test_a_tick_during_a_periodic_run_is_skipped_not_queued() -> None:
    """A periodic trigger while the previous run goes on starts nothing, now or later."""
    h = Harness(PERIODIC + "}")
    h.job.trigger(1)
    h.job.trigger(2)
    h.exit(exited(0))
    assert h.spawns == 1 and h.state is S.WAITING


@on_loop
async def test_a_periodic_run_gets_its_stop_signal_after_one_interval() -> None:
    """Without `timeout`, a periodic run lasting its whole interval (10s) gets SIGTERM."""
    h = Harness(PERIODIC + "}")
    h.job.trigger(1)
    h.clock.advance(10.0 - EPS)
    assert h.signals() == []
    h.clock.advance(EPS)
    assert h.signals() == [SIGTERM]
    h.exit(killed(SIGTERM))
    assert h.state is S.WAITING


@on_loop
async def test_hold_ends_a_waiting_periodic_job_stopped_until_release() -> None:
    """hold() of a WAITING job makes it STOPPED; ticks are ignored until release()."""
    h = Harness(PERIODIC + "}")
    h.job.trigger(1)
    h.exit(exited(0))
    await h.job.hold()
    assert h.states[-2:] == [S.WAITING, S.STOPPED]
    h.job.trigger(2)
    assert h.spawns == 1
    h.job.release()
    assert h.states[-2:] == [S.STARTING, S.RUNNING]


@on_loop
async def test_a_periodic_spawn_failure_waits_for_the_next_tick() -> None:
    """A periodic job that cannot be spawned is WAITING (127), and the next tick tries again."""
    h = Harness(PERIODIC + "}")
    h.spawner.fail()
    h.job.trigger(1)
    assert h.states == [S.STARTING, S.WAITING] and h.job.statistics().last_exit == 127
    h.job.trigger(2)
    assert h.states[-2:] == [S.STARTING, S.RUNNING]


# Spawn failures.


@on_loop
async def test_a_command_that_cannot_be_spawned_is_fatal_with_127() -> None:
    """SpawnError without restarts: FATAL, last exit 127, exitFailed, settled, nothing watched."""
    h = Harness(app())
    h.spawner.fail()
    h.job.trigger(1)
    assert h.states == [S.STARTING, S.FATAL]
    stats = h.job.statistics()
    assert (stats.pid, stats.runs, stats.last_exit) == (None, 1, 127)
    assert h.events == [("exitFailed", "app")] and h.settled == 1
    assert h.reaper.watched == []
    h.job.trigger(2)  # a new trigger tries again
    assert h.states[-3:] == [S.FATAL, S.STARTING, S.RUNNING]


@on_loop
async def test_spawn_failures_use_the_restarts_with_backoff_then_end_fatal() -> None:
    """With restarts: 2, three spawn failures back off 1s, 2s and end FATAL with 2 restarts."""
    h = Harness(app(f"restarts: 2, {FAST_BACKOFF}"))
    h.spawner.fail(times=3, code=126)
    h.job.trigger(1)
    delays = [h.restart_delay(), h.restart_delay()]
    assert delays == [1.0, 2.0]
    assert h.states == [S.STARTING, S.BACKOFF] * 2 + [S.STARTING, S.FATAL]
    stats = h.job.statistics()
    assert (stats.runs, stats.restarts, stats.last_exit) == (3, 2, 126)
    assert h.settled == 1


@on_loop
async def test_a_spawn_failure_then_a_successful_restart_runs() -> None:
    """After one spawn failure, the restart after the backoff spawns the job and it runs."""
    h = Harness(app(f"restarts: 1, {FAST_BACKOFF}"))
    h.spawner.fail()
    h.job.trigger(1)
    assert h.restart_delay() == 1.0
    assert h.state is S.RUNNING


@on_loop
async def test_a_spawn_failure_whose_code_is_a_success_code_ends_exited() -> None:
    """A spawn failure (127) listed in success_codes counts as a success: EXITED, exitSuccess."""
    h = Harness(app("success_codes: [0, 127]"))
    h.spawner.fail()
    h.job.trigger(1)
    assert h.states == [S.STARTING, S.EXITED]
    assert h.events == [("exitSuccess", "app")]


# The rest of the process group.


@on_loop
async def test_a_restart_waits_until_the_rest_of_the_group_is_gone() -> None:
    """An exit whose group outlives the leader: the group gets SIGTERM, SIGKILL 2s later, and
    the restart waits for it."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    first = h.process
    h.exit(exited(1), leftover_group=True)
    assert h.signals(first) == [SIGTERM]
    h.clock.advance(1.5)  # the 1s backoff is over, the group still alive
    assert h.state is S.BACKOFF and h.spawns == 1 and h.signals(first) == [SIGTERM]
    h.clock.advance(0.6)
    assert h.signals(first) == [SIGTERM, SIGKILL]
    h.groups.alive.discard(first.pid)
    h.clock.advance(0.1)
    assert h.state is S.RUNNING and h.spawns == 2


@on_loop
async def test_a_restart_goes_ahead_when_the_group_outlives_the_grace() -> None:
    """A group that survives SIGKILL delays the restart by at most 1s past its grace (2s)."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    h.exit(exited(1), leftover_group=True)
    h.clock.advance(2.9)
    assert h.state is S.BACKOFF
    h.clock.advance(0.2)
    assert h.state is S.RUNNING and h.spawns == 2


# Bugs found in job.py: the tests say what should happen.


@on_loop
async def test_a_trigger_while_a_restart_is_pending_starts_only_one_run() -> None:
    """A trigger after restart()'s stop but before the new run starts leads to one run only."""
    h = Harness(app())
    h.job.trigger(1)
    task = await begin(h.job.restart())
    h.exit(killed(SIGTERM))
    await task
    assert h.state is S.STOPPED
    h.job.trigger(2)
    h.clock.advance(2.0)
    assert h.state is S.RUNNING and h.spawns == 2


@on_loop
async def test_kill_during_backoff_ends_the_job_stopped_at_once() -> None:
    """kill() of a job waiting to be restarted ends it STOPPED and settled at once."""
    h = Harness(RESTARTING)
    h.job.trigger(1)
    h.exit(exited(1))
    h.job.kill()
    assert h.state is S.STOPPED and h.settled == 1


@on_loop
async def test_retire_ends_a_waiting_periodic_job_exited() -> None:
    """retire() of a periodic job between runs ends it EXITED: its last run is over."""
    h = Harness(PERIODIC + "}")
    h.job.trigger(1)
    h.exit(exited(0))
    h.job.retire()
    assert h.states[-2:] == [S.WAITING, S.EXITED]


# Every state and transition is reached.



def reached_by_the_tests() -> set[tuple[JobState, JobState]]:
    """Every transition that the tests above make, each run again from scratch."""
    first = len(TRANSITIONS)
    for scenario in SCENARIOS:
        asyncio.run(scenario())
    return set(TRANSITIONS[first:])


def allowed() -> set[tuple[JobState, JobState]]:
    return {(old, new) for old, targets in ALLOWED.items() for new in targets}


def test_the_tests_reach_every_state_and_every_reachable_transition() -> None:
    """Every JobState is entered."""
    reached = reached_by_the_tests()
    assert {new for _, new in reached} | {S.STOPPED} == set(JobState)


def test_every_transition_in_allowed_is_reached() -> None:
    """Every transition of ALLOWED is made by at least one test: none is dead."""
    assert allowed() - reached_by_the_tests() == set()
