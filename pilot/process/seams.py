"""What a job is given rather than reaching for: time and timers, a way to start a process,
a way to signal a process group, and the reaper. The running loop, `spawn`, `os.killpg` and
the Reaper in production; fakes in the state machine's unit tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, Protocol

from pilot.process.spawn import SpawnRequest


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time and timers: the running loop, or a fake one in tests."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer: ...


class Process(Protocol):
    """What the job needs of a spawned process (a `subprocess.Popen`)."""

    pid: int
    returncode: int | Any
    stdout: IO[bytes] | None
    stderr: IO[bytes] | None


class ExitWatcher(Protocol):
    """The reaper: hands a pid's wait status to a callback once it exits."""

    def watch(self, pid: int, callback: Callable[[int], None]) -> None: ...


Spawner = Callable[[SpawnRequest], Process]
Signaller = Callable[[int, int], None]  # (process group, signal), like os.killpg
