"""How the main thread of `pilot consul-dev` learns it is to stop: SIGTERM or SIGINT, whichever
of the process's threads the kernel hands them to, or a call from another thread (leave)."""

from __future__ import annotations

import contextlib
import os
import signal


class StopRequest:
    """A pipe the C-level signal handler writes to (`signal.set_wakeup_fd`), read by `wait()`.

    A process-directed signal goes to any thread that does not block it, and Python runs its
    handler only in the main thread, once that thread runs bytecode again: a main thread asleep
    in a lock's acquire (`threading.Event.wait()`) is not woken by a signal another thread took,
    and slept on for ever. A read of the wakeup pipe returns whichever thread took it.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # set_wakeup_fd's requirement; a full pipe is enough

    def on_signals(self, *signums: signal.Signals) -> None:
        """Wake `wait()` on each of `signums` (call from the main thread)."""
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in signums:
            signal.signal(signum, lambda *_: None)  # the pipe wakes `wait()`; the default exits

    def set(self) -> None:
        """Wake `wait()` (from any thread)."""
        with contextlib.suppress(BlockingIOError):
            os.write(self._write, b"\0")

    def wait(self) -> None:
        """Block until one of the signals arrives or `set()` is called."""
        os.read(self._read, 1)
