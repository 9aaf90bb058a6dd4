"""The one owner of waitpid: reaps every child and orphan, hands exits to whoever spawned them."""

from __future__ import annotations

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
        self._expected: dict[int, int | None] = {}  # pid -> its status, once collected
        self._on_orphan = on_orphan

    def expect(self, pid: int) -> None:
        """Keep `pid`'s status if it exits before it is watched (a job started before the
        loop, adopted later): `watch` then gets it at the next `reap()`."""
        self._expected[pid] = None

    def watch(self, pid: int, callback: ExitCallback) -> None:
        """Deliver `pid`'s wait status to `callback` once it exits."""
        self._watchers[pid] = callback

    def reap(self) -> None:
        """Collect every exited child without blocking."""
        for pid, status in list(self._expected.items()):
            if pid in self._watchers:
                del self._expected[pid]
                if status is not None:
                    self._watchers.pop(pid)(status)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            callback = self._watchers.pop(pid, None)
            if callback is not None:
                self._expected.pop(pid, None)
                callback(status)
            elif pid in self._expected:
                self._expected[pid] = status
            elif self._on_orphan is not None:
                self._on_orphan(pid, status)


def become_subreaper() -> bool:
    """Adopt orphaned descendants as PID 1 would (Linux >= 3.4). Returns whether it worked."""
    import ctypes  # not as PID 1, which needs none of it

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
