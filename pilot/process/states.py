"""Job states, the transitions allowed between them, and what pilot intends for a job."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class JobState(enum.Enum):
    """Where a job is in its life.

    STOPPED: not started yet, or stopped by pilot. STARTING: being spawned. RUNNING: its process
    is alive. BACKOFF: waiting to be restarted. STOPPING: its stop signal was sent. WAITING: a
    periodic job between two runs. EXITED: its last run ended and nothing restarts it now.
    FATAL: it could not be started and gave up.
    """

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    WAITING = "waiting"
    EXITED = "exited"
    FATAL = "fatal"

    @property
    def active(self) -> bool:
        """Whether the job has, or is about to have, a process."""
        return self in (JobState.STARTING, JobState.RUNNING, JobState.BACKOFF, JobState.STOPPING)

    @property
    def alive(self) -> bool:
        """Whether the job's process is alive."""
        return self in (JobState.RUNNING, JobState.STOPPING)


class Intent(enum.Enum):
    """What pilot wants of a job beyond its current run; exactly one at a time.

    SUPERVISE: run it as its `when` and restart policy say. RUN_AGAIN: its trigger fired while
    it ran: one more run once this one is over. RESTART: stop this run, start the next at once.
    HOLD: stopped through the control socket until released (not "over": pilot keeps running).
    RETIRE: no more runs ever (shutdown, a reload removed it, it gave up); a live process is
    left to its stop sequence.
    """

    SUPERVISE = "supervise"
    RUN_AGAIN = "run_again"
    RESTART = "restart"
    HOLD = "hold"
    RETIRE = "retire"

    @property
    def accepts_runs(self) -> bool:
        """Whether a trigger or a restart may start a run."""
        return self not in (Intent.HOLD, Intent.RETIRE)


_S = JobState
ALLOWED: dict[JobState, frozenset[JobState]] = {
    _S.STOPPED: frozenset({_S.STARTING, _S.FATAL}),
    _S.STARTING: frozenset({_S.RUNNING, _S.BACKOFF, _S.FATAL, _S.EXITED, _S.WAITING}),
    _S.RUNNING: frozenset({_S.STOPPING, _S.BACKOFF, _S.EXITED, _S.WAITING}),
    _S.BACKOFF: frozenset({_S.STARTING, _S.STOPPED}),
    _S.STOPPING: frozenset({_S.STOPPED}),
    _S.WAITING: frozenset({_S.STARTING, _S.STOPPED, _S.EXITED}),
    _S.EXITED: frozenset({_S.STARTING, _S.STOPPED}),
    _S.FATAL: frozenset({_S.STARTING, _S.STOPPED}),
}


class TransitionError(RuntimeError):
    """A state change the state machine does not allow: a bug in pilot."""


def check_transition(old: JobState, new: JobState) -> None:
    """Raise TransitionError unless `old` may become `new`."""
    if new not in ALLOWED[old]:
        raise TransitionError(f"job cannot go from {old.value} to {new.value}")


@dataclass(frozen=True)
class JobStats:
    """A snapshot of a job, for status output and metrics."""

    name: str
    state: JobState
    pid: int | None
    runs: int
    restarts: int
    last_exit: int | None
    started_at: float | None
