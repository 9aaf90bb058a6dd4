"""A main job started before pilot's event loop exists (`pilot -- CMD`): forked with cheap
modules only, then adopted by its Job as that job's first run once the loop is up.

Sound only where nothing must happen between pilot's start and the job's: no config file,
control socket, Consul, template or `when` to wait for. The reaper still owns waitpid: a
job that exits before the loop stays a zombie until the reaper's first sweep, so its status
is not lost. Signals that arrive meanwhile are recorded and replayed (`SignalRecorder`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pilot.process.limits import raise_fd_limit
from pilot.process.reaper import become_subreaper
from pilot.process.signals import SignalRecorder
from pilot.process.spawn import SpawnError, SpawnRequest, foreground_terminal, spawn

if TYPE_CHECKING:
    from pilot.log import Log
    from pilot.process.seams import Process, Spawner


def take_charge(log: Log) -> None:
    """What pilot does to its own process before its first job starts: the open-file limit
    raised (jobs inherit it), and orphans of jobs adopted as PID 1 would (not PID 1)."""
    raise_fd_limit(log)
    if os.getpid() != 1 and not become_subreaper():
        log.warn("cannot become a child subreaper: orphans of jobs will not be reaped")


class EarlyRun:
    """The first run of the main job, started before the loop. Its Job adopts it through
    `spawner`: the job's first spawn gets this process (or this SpawnError) instead of a new
    one, and must ask for exactly what was started."""

    def __init__(self, argv: Sequence[str], log: Log) -> None:
        self.recorder = SignalRecorder()
        self.recorder.install()  # before the fork: no signal is lost between it and the loop
        take_charge(log)
        self.terminal = foreground_terminal()  # the job takes it: ask before
        self.request = SpawnRequest(
            argv=tuple(argv),
            env={**os.environ, "PILOT_PID": str(os.getpid())},
            capture=False,
            inherit_stdin=self.terminal is not None,
            terminal=self.terminal,
        )
        self._process: Process | None = None
        self._error: SpawnError | None = None
        try:
            self._process = spawn(self.request)
        except SpawnError as error:
            self._error = error
        self._adopted = False

    def spawner(self, then: Spawner) -> Spawner:
        """A spawner that hands over this run at its first call and spawns with `then` after."""

        def first_then(request: SpawnRequest) -> Process:
            if self._adopted:
                return then(request)
            self._adopted = True
            assert request == self.request, "the job asks for what was started early"
            if self._error is not None:
                raise self._error
            assert self._process is not None
            return self._process

        return first_then

    @property
    def pid(self) -> int | None:
        """The early process's pid (None when it could not be started)."""
        return None if self._process is None else self._process.pid

    def abandon(self) -> None:
        """pilot will not supervise it after all (it exits): kill its process group."""
        if self._process is not None and not self._adopted:
            os.killpg(self._process.pid, signal.SIGKILL)
