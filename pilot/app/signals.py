"""Signals as pilot (often PID 1) handles them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from pilot.config.model import FORWARDABLE

# A clean shutdown; SIGPWR is what `lxc stop` and Incus send to a container's init.
SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGPWR)
EVENT_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
# Every signal a job may list in `forward` (what tini passes on, bar SIGPIPE).
FORWARDABLE_SIGNALS = tuple(signal.Signals[name] for name in sorted(FORWARDABLE))
# pilot must never be stopped by a tty; tini ignores them and so does pilot (a handler, not
# SIG_IGN, so that children still start with the default).
IGNORED_SIGNALS = (signal.SIGTTIN, signal.SIGTTOU)


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


def install_handlers(loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None]) -> None:
    """Route every signal pilot cares about, SIGCHLD included, to `on_signal` on the loop.

    SIGPIPE stays ignored (Python's default) and is not passed on: pilot writes to pipes and
    sockets itself, and a SIGPIPE of its own cannot be told from a `kill -PIPE`.
    """
    for signum in (signal.SIGCHLD, *FORWARDABLE_SIGNALS, *IGNORED_SIGNALS):
        loop.add_signal_handler(signum, on_signal, signum)
