"""The one owner of waitpid: reaps every child and orphan, hands exits to whoever spawned them."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

ExitCallback = Callable[[int], None]
_PR_SET_CHILD_SUBREAPER = 36


class Reaper:
    """Call `reap()` on every SIGCHLD; `watch(pid, callback)` right after spawning `pid`.

    The callback receives the raw wait status. Statuses of pids nobody watches (orphans
    re-parented to pilot) are simply collected.
    """

    def __init__(self, on_orphan: Callable[[int, int], None] | None = None) -> None:
        self._watchers: dict[int, ExitCallback] = {}
        self._on_orphan = on_orphan

    def watch(self, pid: int, callback: ExitCallback) -> None:
        """Deliver `pid`'s wait status to `callback` once it exits."""
        self._watchers[pid] = callback

    def reap(self) -> None:
        """Collect every exited child without blocking."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            callback = self._watchers.pop(pid, None)
            if callback is not None:
                callback(status)
            elif self._on_orphan is not None:
                self._on_orphan(pid, status)


def become_subreaper() -> bool:
    """Adopt orphaned descendants as PID 1 would (Linux >= 3.4). Returns whether it worked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def exit_code(status: int) -> int:
    """A wait status as a shell would report it: the code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status) & 0xFF
