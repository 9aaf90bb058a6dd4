"""Signals as pilot (often PID 1) handles them, and what it does with them before its event
loop exists. Light on purpose: `pilot --` starts its command before importing asyncio."""

from __future__ import annotations

import contextlib
import os
import signal
from types import FrameType

from pilot.config.forwardable import FORWARDABLE

# A clean shutdown; SIGPWR is what `lxc stop` and Incus send to a container's init.
SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGPWR)
EVENT_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
# Every signal a job may list in `forward` (what tini passes on, bar SIGPIPE).
FORWARDABLE_SIGNALS = tuple(signal.Signals[name] for name in sorted(FORWARDABLE))
# pilot must never be stopped by a tty; tini ignores them and so does pilot (a handler, not
# SIG_IGN, so that children still start with the default).
IGNORED_SIGNALS = (signal.SIGTTIN, signal.SIGTTOU)
# Every signal pilot's loop handles. SIGPIPE stays ignored (Python's default) and is not passed
# on: pilot writes to pipes and sockets itself, and a SIGPIPE of its own cannot be told from a
# `kill -PIPE`.
HANDLED_SIGNALS = (signal.SIGCHLD, *FORWARDABLE_SIGNALS, *IGNORED_SIGNALS)


def reset_inherited_signals() -> None:
    """Give children an empty signal mask and default dispositions.

    Handlers are reset by exec, and subprocess restores SIGPIPE/SIGXFSZ, but a mask or an
    ignored disposition inherited from whoever started pilot would pass on to every job.
    """
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for signum in signal.valid_signals():
        if signum in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGKILL, signal.SIGSTOP):
            continue
        with contextlib.suppress(OSError, ValueError):
            if signal.getsignal(signum) == signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)


class SignalRecorder:
    """Keeps every signal of HANDLED_SIGNALS that arrives before the loop handles them, in
    order, to be replayed once it does: pilot is not stopped by a SIGTERM sent right after it
    started, and a signal meant for the job reaches it.

    Signals are recorded as the loop receives them, through the wakeup fd (a pipe of the
    recorder's until the loop sets its own): each signal is written to exactly one of the two,
    so none is lost in the hand-over and none is handled twice (a Python-level handler would
    also run for a signal the loop's fd had already taken).
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()

    def install(self) -> None:
        """Record from now on (handlers that do nothing, so children still start with the
        default)."""
        for fd in (self._read, self._write):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, _ignore)

    def take(self) -> list[int]:
        """The signals recorded, in order; call once the loop handles signals."""
        data = b""
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self._read, 4096):
                data += chunk
        os.close(self._read)
        os.close(self._write)
        return list(data)


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """The Python-level handler while recording: the wakeup fd has the signal already."""
