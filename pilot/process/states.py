"""Job states and the transitions allowed between them."""

from __future__ import annotations

import enum


class JobState(enum.Enum):
    """Where a job is in its life.

    STOPPED: not started yet, or stopped by pilot. STARTING: being spawned. RUNNING: its process
    is alive. BACKOFF: waiting to be restarted. STOPPING: its stop signal was sent. EXITED: its
    last run ended and nothing restarts it now. FATAL: it could not be started and gave up.
    """

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    EXITED = "exited"
    FATAL = "fatal"

    @property
    def active(self) -> bool:
        """Whether the job has, or is about to have, a process."""
        return self in (JobState.STARTING, JobState.RUNNING, JobState.BACKOFF, JobState.STOPPING)


_S = JobState
ALLOWED: dict[JobState, frozenset[JobState]] = {
    _S.STOPPED: frozenset({_S.STARTING, _S.EXITED, _S.FATAL}),
    _S.STARTING: frozenset({_S.RUNNING, _S.BACKOFF, _S.FATAL, _S.EXITED}),
    _S.RUNNING: frozenset({_S.STOPPING, _S.BACKOFF, _S.EXITED}),
    _S.BACKOFF: frozenset({_S.STARTING, _S.STOPPED}),
    _S.STOPPING: frozenset({_S.STOPPED}),
    _S.EXITED: frozenset({_S.STARTING, _S.STOPPED}),
    _S.FATAL: frozenset({_S.STARTING, _S.STOPPED}),
}


class TransitionError(RuntimeError):
    """A state change the state machine does not allow: a bug in pilot."""


def check_transition(old: JobState, new: JobState) -> None:
    """Raise TransitionError unless `old` may become `new`."""
    if new not in ALLOWED[old]:
        raise TransitionError(f"job cannot go from {old.value} to {new.value}")
